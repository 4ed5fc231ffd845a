/*
 * lexer.c: tokens of the Cedar policy language, and string unescaping.
 *
 * Input is a (pointer, length) slice; every token records its line and
 * column (1-based, columns in bytes) so parse errors read
 * "file:line:col: message".  Comments run from // to the end of the line.
 * String escapes are Rust's (what the reference accepts): \n \r \t \\ \0
 * \' \" \xHH (<= 0x7f) and \u{H..} (1-6 hex digits, a Unicode scalar);
 * `like` patterns additionally accept \* for a literal star.
 * Also the module's one definition of what an identifier, a reserved word and
 * a `::` path are (cedar_ident_ok, cedar_reserved_word, cedar_path_ok), used
 * by every reader and writer of names, and the UTF-8 encoder.
 */
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/limits.h"

static int lex_error(struct cedar_lexer *lx, int line, int col, struct err *e, const char *msg)
{
    return err_set(e, ERR_INVALID, "%s:%d:%d: %s", lx->filename ? lx->filename : "<policy>", line,
                   col, msg);
}

/* Length of a Unicode whitespace character encoded at p (0 if none). */
static size_t uni_space(const unsigned char *p, size_t left)
{
    if (left >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
        return 2;
    }
    if (left >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) {
        return 3;
    }
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf)) {
        return 3;
    }
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) {
        return 3;
    }
    if (left >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) {
        return 3;
    }
    return 0;
}

static void skip_space(struct cedar_lexer *lx)
{
    while (lx->pos < lx->len) {
        unsigned char c = (unsigned char)lx->src[lx->pos];
        if (c == '\n') {
            lx->pos++;
            lx->line++;
            lx->line_start = lx->pos;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            lx->pos++;
        } else if (c == '/' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] == '/') {
            while (lx->pos < lx->len && lx->src[lx->pos] != '\n') {
                lx->pos++;
            }
        } else {
            size_t n = uni_space((const unsigned char *)lx->src + lx->pos, lx->len - lx->pos);
            if (n == 0) {
                return;
            }
            lx->pos += n;
        }
    }
}

static bool is_ident_start(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

bool cedar_ident_ok(const char *s, size_t n)
{
    if (n == 0 || !is_ident_start(s[0])) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (!is_ident_char(s[i])) {
            return false;
        }
    }
    return true;
}

bool cedar_reserved_word(const char *s, size_t n)
{
    static const char *const words[] = {"true", "false", "if",   "then", "else",
                                        "in",   "is",    "like", "has"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool path_part_ok(const char *s, size_t n, bool reserved_ok, bool cedar_ok)
{
    return cedar_ident_ok(s, n) && (reserved_ok || !cedar_reserved_word(s, n)) &&
           (cedar_ok || !(n == 7 && memcmp(s, "__cedar", 7) == 0));
}

bool cedar_path_ok(const char *s, size_t n, bool reserved_ok, bool cedar_ok)
{
    size_t start = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == ':' && s[i + 1] == ':') {
            if (!path_part_ok(s + start, i - start, reserved_ok, cedar_ok)) {
                return false;
            }
            start = i + 2;
            i++;
        }
    }
    return path_part_ok(s + start, n - start, reserved_ok, cedar_ok);
}

struct punct {
    const char *s;
    enum cedar_tok kind;
};

static const struct punct puncts[] = {
    {"::", TK_COLONCOLON}, {"==", TK_EQ},    {"!=", TK_NE},    {"<=", TK_LE},
    {">=", TK_GE},         {"&&", TK_AND},   {"||", TK_OR},    {"(", TK_LPAREN},
    {")", TK_RPAREN},      {"{", TK_LBRACE}, {"}", TK_RBRACE}, {"[", TK_LBRACKET},
    {"]", TK_RBRACKET},    {",", TK_COMMA},  {";", TK_SEMI},   {":", TK_COLON},
    {".", TK_DOT},         {"@", TK_AT},     {"<", TK_LT},     {">", TK_GT},
    {"!", TK_BANG},        {"+", TK_PLUS},   {"-", TK_MINUS},  {"*", TK_STAR},
    {"=", TK_ASSIGN},
};

int cedar_lex_next(struct cedar_lexer *lx, struct cedar_token *t, struct err *e)
{
    skip_space(lx);
    t->line = lx->line;
    t->col = (int)(lx->pos - lx->line_start) + 1;
    t->p = lx->src + lx->pos;
    t->len = 0;
    if (lx->pos >= lx->len) {
        t->kind = TK_EOF;
        return 0;
    }
    const char *s = lx->src + lx->pos;
    size_t left = lx->len - lx->pos;
    char c = s[0];
    if (is_ident_start(c)) {
        size_t n = 1;
        while (n < left && is_ident_char(s[n])) {
            n++;
        }
        t->kind = TK_IDENT;
        t->len = n;
    } else if (c >= '0' && c <= '9') {
        size_t n = 1;
        while (n < left && s[n] >= '0' && s[n] <= '9') {
            n++;
        }
        t->kind = TK_INT;
        t->len = n;
    } else if (c == '"') {
        size_t n = 1;
        int line = lx->line;
        size_t ls = lx->line_start;
        for (;;) {
            if (n >= left) {
                return lex_error(lx, t->line, t->col, e, "unterminated string literal");
            }
            if (s[n] == '\\') {
                if (n + 1 >= left || s[n + 1] == '\n') {
                    return lex_error(lx, t->line, t->col, e, "invalid escape in string literal");
                }
                n += 2;
                continue;
            }
            if (s[n] == '"') {
                n++;
                break;
            }
            if (s[n] == '\n') {
                line++;
                ls = lx->pos + n + 1;
            }
            n++;
        }
        if (n - 2 > LIMIT_CEDAR_STRING_LEN) {
            return lex_error(lx, t->line, t->col, e, "string literal too long");
        }
        t->kind = TK_STR;
        t->len = n;
        lx->pos += n;
        lx->line = line;
        lx->line_start = ls;
        return 0;
    } else if (c == '?') {
        size_t n = 1;
        while (n < left && is_ident_char(s[n])) {
            n++;
        }
        if (!((n == 10 && memcmp(s, "?principal", 10) == 0) ||
              (n == 9 && memcmp(s, "?resource", 9) == 0))) {
            return lex_error(lx, t->line, t->col, e,
                             "invalid template slot (expected ?principal or ?resource)");
        }
        t->kind = TK_SLOT;
        t->len = n;
    } else {
        t->kind = TK_EOF;
        for (size_t i = 0; i < sizeof(puncts) / sizeof(puncts[0]); i++) {
            size_t pl = strlen(puncts[i].s);
            if (pl <= left && memcmp(s, puncts[i].s, pl) == 0) {
                t->kind = puncts[i].kind;
                t->len = pl;
                break;
            }
        }
        if (t->len == 0) {
            return lex_error(lx, t->line, t->col, e, "unexpected character");
        }
    }
    lx->pos += t->len;
    return 0;
}

/* ---- unescaping -------------------------------------------------------- */

size_t cedar_utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes one escape starting at s[*i] == '\\'; writes bytes to o (up to 4),
 * sets *olen.  *star is set when the escape is \* and star_ok. */
static int one_escape(const char *s, size_t n, size_t *i, char *o, size_t *olen, bool star_ok,
                      bool *star, struct err *e)
{
    size_t k = *i + 1;
    *star = false;
    if (k >= n) {
        return err_set(e, ERR_INVALID, "invalid escape at end of string");
    }
    char c = s[k];
    *olen = 1;
    switch (c) {
    case 'n':
        o[0] = '\n';
        break;
    case 'r':
        o[0] = '\r';
        break;
    case 't':
        o[0] = '\t';
        break;
    case '\\':
        o[0] = '\\';
        break;
    case '0':
        o[0] = '\0';
        break;
    case '\'':
        o[0] = '\'';
        break;
    case '"':
        o[0] = '"';
        break;
    case '*':
        if (!star_ok) {
            return err_set(e, ERR_INVALID, "invalid escape \\*");
        }
        o[0] = '*';
        *star = true;
        break;
    case 'x': {
        int h = k + 1 < n ? cedar_hexval(s[k + 1]) : -1;
        int l = k + 2 < n ? cedar_hexval(s[k + 2]) : -1;
        if (h < 0 || l < 0 || h > 7) {
            return err_set(e, ERR_INVALID, "invalid \\x escape");
        }
        o[0] = (char)(h * 16 + l);
        *i = k + 3;
        return 0;
    }
    case 'u': {
        size_t j = k + 1;
        if (j >= n || s[j] != '{') {
            return err_set(e, ERR_INVALID, "invalid \\u escape (expected '{')");
        }
        j++;
        unsigned long cp = 0;
        int digits = 0;
        while (j < n && s[j] != '}') {
            if (s[j] == '_' && digits > 0) {
                j++;
                continue;
            }
            int h = cedar_hexval(s[j]);
            if (h < 0 || digits >= 6) {
                return err_set(e, ERR_INVALID, "invalid \\u escape");
            }
            cp = cp * 16 + (unsigned long)h;
            digits++;
            j++;
        }
        if (j >= n || digits == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return err_set(e, ERR_INVALID, "invalid \\u escape");
        }
        *olen = cedar_utf8_put(o, cp);
        *i = j + 1;
        return 0;
    }
    default:
        return err_set(e, ERR_INVALID, "invalid escape \\%c", c);
    }
    *i = k + 1;
    return 0;
}

int cedar_unescape(struct arena *a, const char *s, size_t n, struct cedar_str *out, struct err *e)
{
    char *o = arena_alloc(a, n + 1);
    if (o == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    size_t len = 0, i = 0;
    while (i < n) {
        if (s[i] != '\\') {
            o[len++] = s[i++];
            continue;
        }
        size_t ol;
        bool star;
        int r = one_escape(s, n, &i, o + len, &ol, false, &star, e);
        if (r != 0) {
            return r;
        }
        len += ol;
    }
    o[len] = '\0';
    out->ptr = o;
    out->len = len;
    return 0;
}

int cedar_unescape_pattern(struct arena *a, const char *s, size_t n, struct cedar_pattern **out,
                           struct err *e)
{
    struct cedar_pattern *p = arena_alloc(a, sizeof(*p) + (n + 1) * sizeof(int16_t));
    if (p == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    size_t len = 0, i = 0;
    while (i < n) {
        if (s[i] == '*') {
            p->elems[len++] = -1;
            i++;
            continue;
        }
        if (s[i] != '\\') {
            p->elems[len++] = (unsigned char)s[i++];
            continue;
        }
        char buf[4];
        size_t ol = 0; /* set by one_escape (gcc -O3 cannot see it) */
        bool star = false;
        int r = one_escape(s, n, &i, buf, &ol, true, &star, e);
        if (r != 0) {
            return r;
        }
        /* only \* is a literal star: a star spelled \u{2a} or \x2a is a
         * wildcard, as in the reference (it unescapes first) */
        if (!star && ol == 1 && buf[0] == '*') {
            p->elems[len++] = -1;
            continue;
        }
        for (size_t k = 0; k < ol; k++) {
            p->elems[len++] = (unsigned char)buf[k];
        }
    }
    p->n = len;
    *out = p;
    return 0;
}
