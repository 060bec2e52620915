/* socktool's addon, N-API helpers: errors thrown as Node system errors, arguments read, values made. */
#include "socktool.h"

/* ---------- errors ---------- */

/* Throws a Node-style system error for `err` (a negative errno, libuv's convention). */
napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, code, e, num, sc;
  char text[256];
  snprintf(text, sizeof text, "%s %s", syscall, uv_err_name(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &e);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, e, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, e, "syscall", sc);
  napi_throw(env, e);
  return NULL;
}

napi_value throw_type(napi_env env, const char *what) {
  napi_throw_type_error(env, NULL, what);
  return NULL;
}

/* ---------- argument helpers ---------- */

/* A Buffer holding a copy of p[0..n); NULL when it cannot be made. */
napi_value copy_buffer(napi_env env, const void *p, size_t n) {
  napi_value v;
  void *dst;
  return napi_create_buffer_copy(env, n, p, &dst, &v) == napi_ok ? v : NULL;
}

/* A raw call's answer as a Buffer, or ENOMEM thrown for `syscall`. */
napi_value answer(napi_env env, const void *p, size_t n, const char *syscall) {
  napi_value v = copy_buffer(env, p, n);
  return v ? v : throw_errno(env, -ENOMEM, syscall);
}
