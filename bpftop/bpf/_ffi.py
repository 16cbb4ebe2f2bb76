"""cffi declarations for the parts of libbpf (>= 1.0) that bpftop uses.

ABI mode: ``libbpf.so.1`` is opened at run time with ``dlopen``, so installing
bpftop needs no compiler and no libbpf headers. The library is opened lazily,
on first use, so that replay and batch rendering work on machines without it.
"""

from __future__ import annotations

import threading
from typing import Any

import cffi

CDEF = """
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;
struct btf;
struct ring_buffer;

enum libbpf_print_level { LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG };
/* The real last argument is a va_list; on x86_64 and aarch64 it is passed as
 * a pointer, which is all that vsnprintf needs. */
typedef int (*libbpf_print_fn_t)(enum libbpf_print_level level, const char *fmt, void *args);
libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn);
int vsnprintf(char *str, size_t size, const char *format, void *ap);
/* bpf/log.py prints each message into a memory stream, which grows to any
 * length: libbpf passes a whole verifier log (16 MiB or more) as one message. */
void *open_memstream(char **ptr, size_t *sizeloc);
int vfprintf(void *stream, const char *format, void *ap);
int fclose(void *stream);
void free(void *ptr);

int libbpf_strerror(int err, char *buf, size_t size);
int libbpf_num_possible_cpus(void);
int bpf_enable_stats(int type);
int libbpf_probe_bpf_prog_type(int prog_type, const void *opts); /* enum bpf_prog_type */
__u32 libbpf_major_version(void);
__u32 libbpf_minor_version(void);

struct bpf_object *bpf_object__open_file(const char *path, const void *opts);
int bpf_object__load(struct bpf_object *obj);
void bpf_object__close(struct bpf_object *obj);
struct btf *bpf_object__btf(const struct bpf_object *obj);
struct bpf_program *bpf_object__next_program(const struct bpf_object *obj, struct bpf_program *prog);
struct bpf_map *bpf_object__next_map(const struct bpf_object *obj, const struct bpf_map *map);
struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name);

const char *bpf_program__name(const struct bpf_program *prog);
const char *bpf_program__section_name(const struct bpf_program *prog);
int bpf_program__set_autoload(struct bpf_program *prog, _Bool autoload);
_Bool bpf_program__autoload(const struct bpf_program *prog);
int bpf_program__fd(const struct bpf_program *prog);
int bpf_obj_get_info_by_fd(int bpf_fd, void *info, __u32 *info_len);
struct bpf_link *bpf_program__attach(const struct bpf_program *prog);
int bpf_link__destroy(struct bpf_link *link);
int bpf_link__fd(const struct bpf_link *link);

const char *bpf_map__name(const struct bpf_map *map);
int bpf_map__fd(const struct bpf_map *map);
__u32 bpf_map__key_size(const struct bpf_map *map);
__u32 bpf_map__value_size(const struct bpf_map *map);
__u32 bpf_map__max_entries(const struct bpf_map *map);
int bpf_map__type(const struct bpf_map *map);
void *bpf_map__initial_value(struct bpf_map *map, size_t *psize);

struct bpf_map_batch_opts { size_t sz; __u64 elem_flags; __u64 flags; };
int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys,
                         void *values, __u32 *count, const struct bpf_map_batch_opts *opts);
int bpf_map_lookup_elem(int fd, const void *key, void *value);
int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags);
int bpf_map_get_next_key(int fd, const void *key, void *next_key);
int bpf_map_delete_elem(int fd, const void *key);
int bpf_map_delete_batch(int fd, const void *keys, __u32 *count, const struct bpf_map_batch_opts *opts);

struct btf_type { __u32 name_off; __u32 info; __u32 size_or_type; };
struct btf_var_secinfo { __u32 type; __u32 offset; __u32 size; };
struct btf *btf__load_vmlinux_btf(void);
void btf__free(struct btf *btf);
__s32 btf__find_by_name_kind(const struct btf *btf, const char *type_name, __u32 kind);
const struct btf_type *btf__type_by_id(const struct btf *btf, __u32 id);
const char *btf__name_by_offset(const struct btf *btf, __u32 offset);

typedef int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size);
struct ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn sample_cb, void *ctx,
                                     const void *opts);
void ring_buffer__free(struct ring_buffer *rb);
int ring_buffer__poll(struct ring_buffer *rb, int timeout_ms);
int ring_buffer__consume(struct ring_buffer *rb);

/* --- bpf pane (bpftop/bpf/proginfo.py): enumerate programs, maps and BTF.
 * Layouts of uapi/linux/bpf.h; unnamed bitfields become named padding and
 * __aligned_u64 is __u64 (already 8-aligned on x86_64 and aarch64). */
int bpf_prog_get_next_id(__u32 start_id, __u32 *next_id);
int bpf_map_get_next_id(__u32 start_id, __u32 *next_id);
int bpf_prog_get_fd_by_id(__u32 id);
int bpf_map_get_fd_by_id(__u32 id);
int bpf_btf_get_fd_by_id(__u32 id);
int bpf_iter_create(int link_fd);
/* An iterator that updates another object's maps (tcp_owner) shares them by fd. */
int bpf_map__reuse_fd(struct bpf_map *map, int fd);
/* Only tests and benchmarks create maps outside an object (a map without BTF). */
int bpf_map_create(int map_type, const char *map_name, __u32 key_size, __u32 value_size,
                   __u32 max_entries, const void *opts);
struct bpf_prog_info {
    __u32 type; __u32 id; __u8 tag[8]; __u32 jited_prog_len; __u32 xlated_prog_len;
    __u64 jited_prog_insns; __u64 xlated_prog_insns; __u64 load_time; __u32 created_by_uid;
    __u32 nr_map_ids; __u64 map_ids; char name[16]; __u32 ifindex; __u32 gpl_bits;
    __u64 netns_dev; __u64 netns_ino; __u32 nr_jited_ksyms; __u32 nr_jited_func_lens;
    __u64 jited_ksyms; __u64 jited_func_lens; __u32 btf_id; __u32 func_info_rec_size;
    __u64 func_info; __u32 nr_func_info; __u32 nr_line_info; __u64 line_info;
    __u64 jited_line_info; __u32 nr_jited_line_info; __u32 line_info_rec_size;
    __u32 jited_line_info_rec_size; __u32 nr_prog_tags; __u64 prog_tags; __u64 run_time_ns;
    __u64 run_cnt; __u64 recursion_misses; __u32 verified_insns; __u32 attach_btf_obj_id;
    __u32 attach_btf_id; __u32 pad;
};
struct bpf_map_info {
    __u32 type; __u32 id; __u32 key_size; __u32 value_size; __u32 max_entries; __u32 map_flags;
    char name[16]; __u32 ifindex; __u32 btf_vmlinux_value_type_id; __u64 netns_dev;
    __u64 netns_ino; __u32 btf_id; __u32 btf_key_type_id; __u32 btf_value_type_id; __u32 pad;
    __u64 map_extra;
};
struct bpf_btf_info { __u64 btf; __u32 btf_size; __u32 id; __u64 name; __u32 name_len; __u32 kernel_btf; };

/* perf events (bpf/perf.py, issue 8): perf_event_open has no libc wrapper, so it
 * goes through the variadic syscall(); a perf_event program attaches to its fd. */
long syscall(long number, ...);
struct bpf_link *bpf_program__attach_perf_event(const struct bpf_program *prog, int pfd);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF)

_lock = threading.Lock()
_lib: Any = None
_libc: Any = None


def lib() -> Any:
    """Return the opened libbpf, opening ``libbpf.so.1`` on first call.

    Raises:
        LibbpfMissingError: when the shared library cannot be found.
    """
    global _lib, _libc
    if _lib is None:
        with _lock:
            if _lib is None:
                from bpftop.bpf.errors import LibbpfMissingError

                try:
                    opened = ffi.dlopen("libbpf.so.1")
                except OSError as exc:
                    raise LibbpfMissingError(
                        "libbpf.so.1 not found: install libbpf1 (Debian/Ubuntu) or libbpf (Fedora)"
                    ) from exc
                _libc = ffi.dlopen(None)
                _lib = opened
                from bpftop.bpf import log

                log.install(_lib, _libc)
    return _lib
