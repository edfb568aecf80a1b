/* nfs-op: namespace operations through libnfs (the Debian libnfs-utils tools only copy,
 * cat and list). The client logic is libnfs's own; this only parses arguments.
 *
 *   nfs-op URL mkdir PATH | rmdir PATH | unlink PATH | rename FROM TO | chmod MODE PATH
 *            | write PATH TEXT   (WRITE of TEXT at offset 0 of an existing file, no truncation)
 *
 * URL is the export, e.g. nfs://127.0.0.1/data?version=3&nfsport=N&mountport=N; PATHs are
 * relative to it and start with '/'. Exit 0 on success; on failure prints libnfs's error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <nfsc/libnfs.h>

static int write_at_start(struct nfs_context *nfs, const char *path, const char *text) {
    struct nfsfh *fh = NULL;
    if (nfs_open(nfs, path, O_WRONLY, &fh) != 0) return -1;
    int n = nfs_pwrite(nfs, fh, 0, strlen(text), text);
    nfs_close(nfs, fh);
    if (n < 0) fprintf(stderr, "pwrite: %s\n", strerror(-n));
    return n == (int)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: nfs-op URL mkdir|rmdir|unlink|rename|chmod|write ARGS\n");
        return 2;
    }
    struct nfs_context *nfs = nfs_init_context();
    if (!nfs) { fprintf(stderr, "nfs_init_context failed\n"); return 1; }
    struct nfs_url *url = nfs_parse_url_dir(nfs, argv[1]);
    if (!url) { fprintf(stderr, "bad url: %s\n", nfs_get_error(nfs)); return 1; }
    if (nfs_mount(nfs, url->server, url->path) != 0) {
        fprintf(stderr, "mount: %s\n", nfs_get_error(nfs));
        return 1;
    }
    const char *op = argv[2];
    int rc;
    if (!strcmp(op, "mkdir")) rc = nfs_mkdir(nfs, argv[3]);
    else if (!strcmp(op, "rmdir")) rc = nfs_rmdir(nfs, argv[3]);
    else if (!strcmp(op, "unlink")) rc = nfs_unlink(nfs, argv[3]);
    else if (!strcmp(op, "rename") && argc >= 5) rc = nfs_rename(nfs, argv[3], argv[4]);
    else if (!strcmp(op, "write") && argc >= 5) rc = write_at_start(nfs, argv[3], argv[4]);
    else if (!strcmp(op, "chmod") && argc >= 5) rc = nfs_chmod(nfs, argv[4], (int)strtol(argv[3], NULL, 8));
    else { fprintf(stderr, "unknown op %s\n", op); return 2; }
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", op, nfs_get_error(nfs));
        return 1;
    }
    nfs_destroy_url(url);
    nfs_destroy_context(nfs);
    return 0;
}
