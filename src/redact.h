/*
 * redact.h — secret values never leave the process.
 *
 * The config registers every secret it resolves (env:/file: references);
 * whatever text is about to leave the process (a log line, a dead-letter
 * or retry header, a status event's reason, a command's error output) goes
 * through ob_redact() first, whichever library wrote it: librdkafka quoting a
 * property value, a warehouse echoing our key, a plugin's error message.
 *
 * Each secret is matched as written, URL-encoded (RFC 3986 and Java
 * flavours) and in base64. Secrets shorter than OB_REDACT_MIN bytes are not
 * registered: masking every "1" in a message would hide more than it keeps.
 */
#ifndef OB_REDACT_H
#define OB_REDACT_H

#include <stddef.h>

#define OB_REDACT_MIN 4
#define OB_REDACT_MASK "****"

/* Register a secret. Returns 0, 1 when it is too short to register, -1 when
 * the registry is full or out of memory (the caller should refuse to run).
 * Thread-safe; the registry keeps a cleansed copy until ob_redact_clear(). */
int ob_redact_add(const char *secret);

/* Replace every form of every registered secret in the NUL-terminated
 * `text` with OB_REDACT_MASK, in place (the text never grows). Returns the
 * new length. */
size_t ob_redact(char *text);

/* A malloc()ed copy of `text` with the secrets masked: the form free text
 * takes on its way out (a header, an event's reason). NULL when `text` is
 * NULL or memory runs out. */
char *ob_redact_dup(const char *text);

/*
 * A malloc()ed copy of text[0..len) (NUL bytes allowed; the copy is
 * NUL-terminated, its length in *out_len) with `secret` (any length, each
 * of its four forms) masked where it is the value itself rather than part
 * of a longer word: the bytes on either side of it are not letters,
 * digits, "-_.~%+" or UTF-8 (a quote, '=', '&', '/', ':', a space, a
 * bracket, a NUL, the start or the end). So a header, query or JSON value
 * equal to it is masked, and a one-letter token does not mask that letter
 * in a host name. A secret of OB_REDACT_ANYWHERE bytes or more is masked
 * wherever it appears: such a string is no accident. Needs no
 * registration (for `convert`, which knows its secrets). NULL when memory
 * runs out. Free it with OPENSSL_cleanse + free when it may hold secrets.
 */
#define OB_REDACT_ANYWHERE 16
char *ob_redact_value(const char *text, size_t len, const char *secret, size_t *out_len);

/* Forget every secret (cleansed). For tests and exit. */
void ob_redact_clear(void);

#endif
