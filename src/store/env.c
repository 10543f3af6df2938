/* The LMDB environment: directory, env flags, the named DBs `log`, `meta` and `snap`,
 * the format version check, and the one place LMDB codes become PMQ_E* codes.
 *
 * Runs on the loop thread inside store_open, before the writer thread exists, so the
 * set-up write txn here is the only write txn not run by the writer; afterwards every
 * write txn belongs to the store thread (STYLE §4 rule 7). */
#include <errno.h>
#include <sys/stat.h>

#include "store_int.h"

int store__mdb_err(int rc, const char *what) {
    int mapped;
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return PMQ_ENOTFOUND;
    case MDB_MAP_FULL:
    case ENOSPC:
        mapped = PMQ_EFULL;
        break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        mapped = PMQ_ECORRUPT;
        break;
    case MDB_VERSION_MISMATCH:
        mapped = PMQ_EVERSION;
        break;
    case ENOMEM:
        mapped = PMQ_ENOMEM;
        break;
    case EIO:
        mapped = PMQ_EIO;
        break;
    default:
        mapped = PMQ_ESTORE;
        break;
    }
    PMQ_LOG_ERROR("store_lmdb_error", "op=%s mdb_rc=%d mdb_error=\"%s\" err=%s", what, rc,
                  mdb_strerror(rc), pmq_errname(mapped));
    return mapped;
}

/* mkdir -p: creates every missing component of dir. */
static int mkdir_p(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) {
        return PMQ_EINVAL;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') {
            continue;
        }
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            PMQ_LOG_ERROR("store_mkdir_failed", "dir=%s errno=%d", path, errno);
            return PMQ_EIO;
        }
        path[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        PMQ_LOG_ERROR("store_mkdir_failed", "dir=%s reason=not_a_directory", dir);
        return PMQ_EIO;
    }
    return 0;
}

/* Checks meta "store.format" in txn, writing it on a fresh env. */
static int check_format(store_t *s, MDB_txn *txn) {
    MDB_val k = store__val(STORE__FORMAT_KEY, strlen(STORE__FORMAT_KEY));
    MDB_val v;
    int rc = mdb_get(txn, s->dbi_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        unsigned char ver[4];
        pmq_store_u32be(ver, STORE_FORMAT_VERSION);
        size_t size = store__meta_value_size(sizeof(ver));
        v = store__val(NULL, size);
        rc = store__mdb_err(mdb_put(txn, s->dbi_meta, &k, &v, MDB_RESERVE), "put_format");
        if (rc == 0) {
            PMQ_ASSERT(v.mv_size == size);
            store__meta_value_encode(v.mv_data, STORE__FORMAT_KEY, pmq_slice(ver, 4));
        }
        return rc;
    }
    rc = store__mdb_err(rc, "get_format");
    if (rc != 0) {
        return rc;
    }
    pmq_slice_t ver;
    rc = store__meta_value_decode(STORE__FORMAT_KEY, store__slice(v), &ver);
    if (rc != 0 || ver.len != 4) {
        PMQ_LOG_ERROR("store_format_corrupt", "len=%zu", v.mv_size);
        return PMQ_ECORRUPT;
    }
    uint32_t found = pmq_load_u32be(ver.ptr);
    if (found != STORE_FORMAT_VERSION) {
        PMQ_LOG_ERROR("store_format_unsupported", "found=%u supported=%u", found,
                      STORE_FORMAT_VERSION);
        return PMQ_EVERSION;
    }
    return 0;
}

/* Loads log_entries, log_bytes and the last index. A pass over the log's values (not
 * their CRCs): the log is bounded by snapshotting (CLUSTER §2.9), and recovery reads it
 * all anyway. */
static int load_log_counters(store_t *s, MDB_txn *txn) {
    MDB_cursor *cur = NULL;
    int rc = store__mdb_err(mdb_cursor_open(txn, s->dbi_log, &cur), "cursor_open");
    if (rc != 0) {
        goto out;
    }
    MDB_val k, v;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t index;
        rc = store__key_decode(store__slice(k), &index);
        if (rc != 0 || v.mv_size < STORE__CRC_BYTES) {
            PMQ_LOG_ERROR("store_log_corrupt", "where=open key_len=%zu", k.mv_size);
            rc = PMQ_ECORRUPT;
            goto out;
        }
        s->w.log_entries++;
        s->w.log_bytes += v.mv_size - STORE__CRC_BYTES;
        s->w_log_last = index;
    }
    rc = mrc == MDB_NOTFOUND ? 0 : store__mdb_err(mrc, "cursor_get");
out:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    return rc;
}

/* The set-up write txn: open/create the DBs, check the format, load the counters. */
static int setup_txn(store_t *s) {
    MDB_txn *txn = NULL;
    int rc = store__mdb_err(mdb_txn_begin(s->env, NULL, 0, &txn), "txn_begin");
    if (rc != 0) {
        goto out;
    }
    rc = store__mdb_err(mdb_dbi_open(txn, "log", MDB_CREATE, &s->dbi_log), "dbi_open_log");
    if (rc == 0) {
        rc = store__mdb_err(mdb_dbi_open(txn, "meta", MDB_CREATE, &s->dbi_meta), "dbi_meta");
    }
    if (rc == 0) {
        rc = store__mdb_err(mdb_dbi_open(txn, "snap", MDB_CREATE, &s->dbi_snap), "dbi_snap");
    }
    if (rc == 0) {
        rc = check_format(s, txn);
    }
    if (rc == 0) {
        rc = load_log_counters(s, txn);
    }
    if (rc != 0) {
        goto out;
    }
    rc = store__mdb_err(mdb_txn_commit(txn), "txn_commit");
    txn = NULL;
out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    return rc;
}

int store__env_open(store_t *s, const store_options_t *opts) {
    PMQ_ASSERT(s->env == NULL);
    PMQ_ASSERT(opts->dir != NULL);
    int rc = mkdir_p(opts->dir);
    if (rc != 0) {
        return rc;
    }
    rc = store__mdb_err(mdb_env_create(&s->env), "env_create");
    if (rc != 0) {
        s->env = NULL;
        return rc;
    }
    size_t map_size = opts->map_size != 0 ? opts->map_size : STORE_DEFAULT_MAP_SIZE;
    rc = store__mdb_err(mdb_env_set_maxdbs(s->env, 4), "env_set_maxdbs");
    if (rc == 0) {
        rc = store__mdb_err(mdb_env_set_mapsize(s->env, map_size), "env_set_mapsize");
    }
    /* MDB_NOTLS: read txns are not tied to a thread's slot, so the loop may hold one
     * while the writer commits. MDB_NOSYNC only when asked (tests): it drops durability. */
    unsigned flags = MDB_NOTLS | (opts->sync ? 0u : (unsigned)MDB_NOSYNC);
    if (rc == 0) {
        rc = store__mdb_err(mdb_env_open(s->env, opts->dir, flags, 0640), "env_open");
    }
    if (rc == 0) {
        int dead = 0;
        rc = store__mdb_err(mdb_reader_check(s->env, &dead), "reader_check");
    }
    if (rc == 0) {
        rc = setup_txn(s);
    }
    if (rc != 0) {
        store__env_close(s);
        return rc;
    }
    PMQ_LOG_INFO("store_open", "dir=%s map_size=%zu sync=%d log_entries=%llu last=%llu",
                 opts->dir, map_size, (int)opts->sync, (unsigned long long)s->w.log_entries,
                 (unsigned long long)s->w_log_last);
    return 0;
}

void store__env_close(store_t *s) {
    if (s->env != NULL) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
}
