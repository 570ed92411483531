/* NVS kept in the node's directory (nvs.bin), rewritten on every change, so a
 * node that loses power right after nvs_set_* keeps the value as the chip
 * does. Lookups match namespace, key and type: a get of another type than the
 * stored one finds nothing (ESP_ERR_NVS_NOT_FOUND), and a set of another type
 * replaces the entry. Capacity: the default 24 KiB partition, counted as
 * 32-byte entries (a string or blob takes 1 + ceil(len/32) entries). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvs_flash.h"
#include "rt.h"

#define MAX_ENTRIES 756            /* 6 pages x 126 entries: a 24 KiB partition less its spare page */
#define MAX_HANDLES 32
#define STR_MAX 4000               /* longest string, with its terminator */
#define BLOB_MAX (MAX_ENTRIES * 32)

typedef struct {
    char ns[16], key[16];
    uint8_t type;
    uint32_t len;
    uint8_t *data;
} entry_t;

static entry_t *s_e;
static size_t s_n, s_cap;
static bool s_init;
static struct { bool open, rw; char ns[16]; } s_h[MAX_HANDLES + 1];

static unsigned cost(const entry_t *e) { return e->type == NVS_TYPE_STR || e->type == NVS_TYPE_BLOB ? 1 + (e->len + 31) / 32 : 1; }

static unsigned used(void)
{
    unsigned u = 0;
    for (size_t i = 0; i < s_n; i++) u += cost(&s_e[i]);
    return u;
}

static void path(char *out, size_t cap, const char *suffix)
{
    snprintf(out, cap, "%s/nvs.bin%s", rt_state_dir(), suffix);
}

static void clear_all(void)
{
    for (size_t i = 0; i < s_n; i++) free(s_e[i].data);
    s_n = 0;
}

static bool save(void)
{
    char p[600], tmp[600];
    path(p, sizeof p, "");
    path(tmp, sizeof tmp, ".tmp");
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) return false;
    fwrite("NVS1", 1, 4, f);
    for (size_t i = 0; i < s_n; i++) {
        fwrite(s_e[i].ns, 1, 16, f);
        fwrite(s_e[i].key, 1, 16, f);
        fwrite(&s_e[i].type, 1, 1, f);
        fwrite(&s_e[i].len, 4, 1, f);
        fwrite(s_e[i].data, 1, s_e[i].len, f);
    }
    bool ok = fflush(f) == 0;
    fclose(f);
    return ok && rename(tmp, p) == 0;
}

static bool push(const char *ns, const char *key, uint8_t type, const void *data, uint32_t len)
{
    if (s_n == s_cap) {
        size_t cap = s_cap ? s_cap * 2 : 32;
        entry_t *e = realloc(s_e, cap * sizeof *e);
        if (e == NULL) return false;
        s_e = e;
        s_cap = cap;
    }
    entry_t *e = &s_e[s_n];
    memset(e, 0, sizeof *e);
    snprintf(e->ns, sizeof e->ns, "%s", ns);
    snprintf(e->key, sizeof e->key, "%s", key);
    e->type = type;
    e->len = len;
    e->data = malloc(len ? len : 1);
    if (e->data == NULL) return false;
    memcpy(e->data, data, len);
    s_n++;
    return true;
}

static void load(void)
{
    clear_all();
    char p[600];
    path(p, sizeof p, "");
    FILE *f = fopen(p, "rb");
    if (f == NULL) return;
    char magic[4];
    if (fread(magic, 1, 4, f) == 4 && !memcmp(magic, "NVS1", 4)) {
        for (;;) {
            char ns[16], key[16];
            uint8_t type;
            uint32_t len;
            if (fread(ns, 1, 16, f) != 16 || fread(key, 1, 16, f) != 16 || fread(&type, 1, 1, f) != 1 ||
                fread(&len, 4, 1, f) != 1 || len > BLOB_MAX)
                break;
            ns[15] = key[15] = '\0';
            uint8_t *d = malloc(len ? len : 1);
            if (d == NULL || fread(d, 1, len, f) != len) {
                free(d);
                break;
            }
            push(ns, key, type, d, len);
            free(d);
        }
    }
    fclose(f);
}

void rt_nvs_boot(void) { s_init = false; }

esp_err_t nvs_flash_init(void)
{
    load();
    s_init = true;
    return ESP_OK;
}

esp_err_t nvs_flash_init_partition(const char *label)
{
    if (label == NULL || strcmp(label, NVS_DEFAULT_PART_NAME)) return ESP_ERR_NOT_FOUND;
    return nvs_flash_init();
}

esp_err_t nvs_flash_deinit(void)
{
    if (!s_init) return ESP_ERR_NVS_NOT_INITIALIZED;
    s_init = false;
    for (int i = 0; i <= MAX_HANDLES; i++) s_h[i].open = false;
    return ESP_OK;
}

esp_err_t nvs_flash_deinit_partition(const char *label)
{
    if (label == NULL || strcmp(label, NVS_DEFAULT_PART_NAME)) return ESP_ERR_NOT_FOUND;
    return nvs_flash_deinit();
}

esp_err_t nvs_flash_erase(void)
{
    clear_all();
    save();
    return ESP_OK;
}

esp_err_t nvs_flash_erase_partition(const char *part)
{
    if (part == NULL || strcmp(part, NVS_DEFAULT_PART_NAME)) return ESP_ERR_NOT_FOUND;
    return nvs_flash_erase();
}

static bool ns_exists(const char *ns)
{
    for (size_t i = 0; i < s_n; i++) {
        if (!strcmp(s_e[i].ns, ns)) return true;
    }
    return false;
}

esp_err_t nvs_open(const char *ns, nvs_open_mode_t mode, nvs_handle_t *out)
{
    if (!s_init) return ESP_ERR_NVS_NOT_INITIALIZED;
    if (ns == NULL || out == NULL || ns[0] == '\0') return ESP_ERR_INVALID_ARG;
    if (strlen(ns) > NVS_NS_NAME_MAX_SIZE - 1) return ESP_ERR_NVS_KEY_TOO_LONG;
    if (mode == NVS_READONLY && !ns_exists(ns)) return ESP_ERR_NVS_NOT_FOUND;
    if (mode == NVS_READWRITE && !ns_exists(ns)) {
        /* A namespace is an entry of its own (empty key), created on the first read-write open. */
        if (used() + 1 > MAX_ENTRIES) return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
        if (!push(ns, "", 0, "", 0) || !save()) return ESP_FAIL;
    }
    for (int i = 1; i <= MAX_HANDLES; i++) {
        if (s_h[i].open) continue;
        s_h[i].open = true;
        s_h[i].rw = mode == NVS_READWRITE;
        snprintf(s_h[i].ns, sizeof s_h[i].ns, "%s", ns);
        *out = (nvs_handle_t)i;
        return ESP_OK;
    }
    return ESP_ERR_NO_MEM;
}

esp_err_t nvs_open_from_partition(const char *part, const char *ns, nvs_open_mode_t mode, nvs_handle_t *out)
{
    if (part == NULL || strcmp(part, NVS_DEFAULT_PART_NAME)) return ESP_ERR_NVS_PART_NOT_FOUND;
    return nvs_open(ns, mode, out);
}

void nvs_close(nvs_handle_t h)
{
    if (h >= 1 && h <= MAX_HANDLES) s_h[h].open = false;
}

static esp_err_t handle(nvs_handle_t h, bool write)
{
    if (!s_init) return ESP_ERR_NVS_NOT_INITIALIZED;
    if (h < 1 || h > MAX_HANDLES || !s_h[h].open) return ESP_ERR_NVS_INVALID_HANDLE;
    if (write && !s_h[h].rw) return ESP_ERR_NVS_READ_ONLY;
    return ESP_OK;
}

static esp_err_t key_ok(const char *key)
{
    if (key == NULL || key[0] == '\0') return ESP_ERR_NVS_INVALID_NAME;
    if (strlen(key) > NVS_KEY_NAME_MAX_SIZE - 1) return ESP_ERR_NVS_KEY_TOO_LONG;
    return ESP_OK;
}

static entry_t *find(const char *ns, const char *key, int type)
{
    for (size_t i = 0; i < s_n; i++) {
        if (!strcmp(s_e[i].ns, ns) && !strcmp(s_e[i].key, key) && (type < 0 || s_e[i].type == type)) return &s_e[i];
    }
    return NULL;
}

static void drop(entry_t *e)
{
    free(e->data);
    size_t i = (size_t)(e - s_e);
    memmove(&s_e[i], &s_e[i + 1], (s_n - i - 1) * sizeof *s_e);
    s_n--;
}

esp_err_t nvs_commit(nvs_handle_t h) { return handle(h, false); }

static esp_err_t set(nvs_handle_t h, const char *key, uint8_t type, const void *data, uint32_t len)
{
    esp_err_t e = handle(h, true);
    if (e == ESP_OK) e = key_ok(key);
    if (e != ESP_OK) return e;
    if (type == NVS_TYPE_STR && len > STR_MAX) return ESP_ERR_NVS_VALUE_TOO_LONG;
    if (type == NVS_TYPE_BLOB && len > BLOB_MAX) return ESP_ERR_NVS_VALUE_TOO_LONG;
    entry_t *old = find(s_h[h].ns, key, -1);
    entry_t probe = { .type = type, .len = len };
    if (used() - (old ? cost(old) : 0) + cost(&probe) > MAX_ENTRIES) return ESP_ERR_NVS_NOT_ENOUGH_SPACE;
    if (old) drop(old);
    if (!push(s_h[h].ns, key, type, data, len)) return ESP_ERR_NO_MEM;
    return save() ? ESP_OK : ESP_FAIL;
}

static esp_err_t get(nvs_handle_t h, const char *key, uint8_t type, void *out, size_t size)
{
    esp_err_t e = handle(h, false);
    if (e == ESP_OK) e = key_ok(key);
    if (e != ESP_OK) return e;
    entry_t *x = find(s_h[h].ns, key, type);
    if (x == NULL) return ESP_ERR_NVS_NOT_FOUND;
    if (out) memcpy(out, x->data, size < x->len ? size : x->len);
    return ESP_OK;
}

#define INT_API(T, name, code) \
    esp_err_t nvs_set_##name(nvs_handle_t h, const char *key, T value) { return set(h, key, code, &value, sizeof value); } \
    esp_err_t nvs_get_##name(nvs_handle_t h, const char *key, T *out) \
    { \
        if (out == NULL) return ESP_ERR_INVALID_ARG; \
        return get(h, key, code, out, sizeof *out); \
    }
INT_API(int8_t, i8, NVS_TYPE_I8)
INT_API(uint8_t, u8, NVS_TYPE_U8)
INT_API(int16_t, i16, NVS_TYPE_I16)
INT_API(uint16_t, u16, NVS_TYPE_U16)
INT_API(int32_t, i32, NVS_TYPE_I32)
INT_API(uint32_t, u32, NVS_TYPE_U32)
INT_API(int64_t, i64, NVS_TYPE_I64)
INT_API(uint64_t, u64, NVS_TYPE_U64)

esp_err_t nvs_set_str(nvs_handle_t h, const char *key, const char *value)
{
    if (value == NULL) return ESP_ERR_INVALID_ARG;
    return set(h, key, NVS_TYPE_STR, value, (uint32_t)strlen(value) + 1);
}

esp_err_t nvs_set_blob(nvs_handle_t h, const char *key, const void *value, size_t length)
{
    if (value == NULL && length) return ESP_ERR_INVALID_ARG;
    if (length > BLOB_MAX) return ESP_ERR_NVS_VALUE_TOO_LONG;
    return set(h, key, NVS_TYPE_BLOB, value, (uint32_t)length);
}

/* out NULL: *length gets the size; a short buffer: ESP_ERR_NVS_INVALID_LENGTH with the size in *length. */
static esp_err_t get_var(nvs_handle_t h, const char *key, uint8_t type, void *out, size_t *length)
{
    if (length == NULL) return ESP_ERR_INVALID_ARG;
    esp_err_t e = handle(h, false);
    if (e == ESP_OK) e = key_ok(key);
    if (e != ESP_OK) return e;
    entry_t *x = find(s_h[h].ns, key, type);
    if (x == NULL) return ESP_ERR_NVS_NOT_FOUND;
    if (out == NULL) {
        *length = x->len;
        return ESP_OK;
    }
    if (*length < x->len) {
        *length = x->len;
        return ESP_ERR_NVS_INVALID_LENGTH;
    }
    memcpy(out, x->data, x->len);
    *length = x->len;
    return ESP_OK;
}

esp_err_t nvs_get_str(nvs_handle_t h, const char *key, char *out, size_t *length) { return get_var(h, key, NVS_TYPE_STR, out, length); }
esp_err_t nvs_get_blob(nvs_handle_t h, const char *key, void *out, size_t *length) { return get_var(h, key, NVS_TYPE_BLOB, out, length); }

esp_err_t nvs_erase_key(nvs_handle_t h, const char *key)
{
    esp_err_t e = handle(h, true);
    if (e == ESP_OK) e = key_ok(key);
    if (e != ESP_OK) return e;
    entry_t *x = find(s_h[h].ns, key, -1);
    if (x == NULL) return ESP_ERR_NVS_NOT_FOUND;
    drop(x);
    return save() ? ESP_OK : ESP_FAIL;
}

esp_err_t nvs_erase_all(nvs_handle_t h)
{
    esp_err_t e = handle(h, true);
    if (e != ESP_OK) return e;
    for (size_t i = s_n; i-- > 0;) {
        if (!strcmp(s_e[i].ns, s_h[h].ns) && s_e[i].key[0]) drop(&s_e[i]);
    }
    return save() ? ESP_OK : ESP_FAIL;
}

esp_err_t nvs_find_key(nvs_handle_t h, const char *key, nvs_type_t *out_type)
{
    esp_err_t e = handle(h, false);
    if (e == ESP_OK) e = key_ok(key);
    if (e != ESP_OK) return e;
    entry_t *x = find(s_h[h].ns, key, -1);
    if (x == NULL) return ESP_ERR_NVS_NOT_FOUND;
    if (out_type) *out_type = (nvs_type_t)x->type;
    return ESP_OK;
}
