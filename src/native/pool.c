/* socktool's addon, the receive area every handle of a thread shares. */
#include "socktool.h"

/* ---------- the shared receive area ---------- */

typedef struct {
  pool_t pool;
  int orphaned; /* the env went away while handles still held it: the last release frees it */
} pool_box_t;

static void pool_free_buffers(pool_t *p) {
  free(p->buf);
  free(p->ctl);
  p->buf = p->ctl = NULL;
  p->slot = 0;
}

static void pool_finalize(napi_env env, void *data, void *hint) {
  pool_box_t *b = data;
  if (b->pool.users > 0) {
    b->orphaned = 1;
    return;
  }
  pool_free_buffers(&b->pool);
  free(b);
}

/* This thread's receive area, grown to hold BATCH datagrams of `slot` bytes (and descriptors, if `ctl`), for one
 * more handle. 0 or -ENOMEM (then nothing changed). */
int pool_acquire(napi_env env, size_t slot, int ctl, pool_t **out) {
  pool_box_t *b = NULL;
  if (napi_get_instance_data(env, (void **)&b) != napi_ok) return -ENOMEM;
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    if (napi_set_instance_data(env, b, pool_finalize, NULL) != napi_ok) {
      free(b);
      return -ENOMEM;
    }
  }
  pool_t *p = &b->pool;
  if (slot > p->slot) {
    /* Only the pages a datagram touches become resident, so a generous slot costs address space, not memory. */
    char *buf = malloc(BATCH * slot);
    if (!buf) return -ENOMEM;
    free(p->buf);
    p->buf = buf;
    p->slot = slot;
  }
  if (ctl && !p->ctl) {
    p->ctl = malloc(BATCH * CTL_SPACE);
    if (!p->ctl) return -ENOMEM;
  }
  p->users++;
  *out = p;
  return 0;
}

/* One handle less: the last one gives the area back. */
void pool_release(pool_t *p) {
  if (--p->users > 0) return;
  pool_free_buffers(p);
  pool_box_t *b = (pool_box_t *)p;
  if (b->orphaned) free(b);
}
