/* A fake libnvidia-ml.so.1 for tests: the NVML entry points pynvml calls, driven by a text file.
 *
 * FAKE_NVML_STATE names the file; it is re-read whenever it changes (write it atomically), so a
 * test can add or remove GPUs, inject XIDs, start "processes" and break devices at run time.
 *   driver VERSION
 *   initerror CODE                 nvmlInit fails with CODE (e.g. 9: driver not loaded)
 *   gpu UUID|NAME|TOTAL_MIB|USED_MIB|UTIL|TEMP_C|POWER_MW|SM_MHZ|MEM_MHZ|ECC_DBE|CC_MAJ|CC_MIN|MIG|ERR
 *                                  ERR != 0: every call on this GPU returns that NVML error code
 *   proc GPU_INDEX|PID|USED_MIB
 *   xid SEQ|GPU_INDEX|XID          delivered once (in SEQ order) through nvmlEventSetWait
 * Single-threaded by design: the agent makes its NVML calls from one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_GPUS 64
#define MAX_PROCS 512
#define MAX_XIDS 512

enum { OK = 0, UNINIT = 1, INVALID = 2, NOT_FOUND = 6, SHORT = 7, TIMEOUT = 10, LOST = 15 };

typedef struct { unsigned index; } device_t;
typedef struct {
    char uuid[96], name[96];
    unsigned long long total_mib, used_mib, ecc;
    unsigned util, temp, power_mw, sm, mem, cc_major, cc_minor, mig;
    int err;
} gpu_t;
typedef struct { unsigned gpu, pid; unsigned long long used_mib; } proc_t;
typedef struct { long seq; unsigned gpu; unsigned long long xid; } xid_t;
typedef struct { unsigned long long registered[MAX_GPUS]; } event_set_t;
typedef struct { unsigned long long total, free, used; } memory_t;
typedef struct { unsigned version; unsigned long long total, reserved, free, used; } memory_v2_t;
typedef struct { unsigned gpu, memory; } utilization_t;
typedef struct { unsigned pid; unsigned long long used; unsigned gi, ci; } process_t;
typedef struct { device_t *device; unsigned long long type, data; unsigned gi, ci; } event_data_t;

static device_t slots[MAX_GPUS];
static gpu_t gpus[MAX_GPUS];
static proc_t procs[MAX_PROCS];
static xid_t xids[MAX_XIDS];
static unsigned n_gpus, n_procs, n_xids;
static int init_error, init_count;
static long delivered_seq = -1;
static char driver[80] = "550.54.15";
static struct stat seen;
static char seen_path[4096];

static void load(void) {
    const char *path = getenv("FAKE_NVML_STATE");
    struct stat st;
    if (!path || stat(path, &st) != 0) return;
    if (st.st_ino == seen.st_ino && st.st_size == seen.st_size &&
        st.st_mtim.tv_sec == seen.st_mtim.tv_sec && st.st_mtim.tv_nsec == seen.st_mtim.tv_nsec)
        return;
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (strcmp(path, seen_path) != 0) {  /* another state file: its XIDs are all new */
        snprintf(seen_path, sizeof seen_path, "%s", path);
        delivered_seq = -1;
    }
    seen = st;
    n_gpus = n_procs = n_xids = 0;
    init_error = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "gpu ", 4) && n_gpus < MAX_GPUS) {
            gpu_t *g = &gpus[n_gpus];
            memset(g, 0, sizeof *g);
            if (sscanf(line + 4, "%95[^|]|%95[^|]|%llu|%llu|%u|%u|%u|%u|%u|%llu|%u|%u|%u|%d",
                       g->uuid, g->name, &g->total_mib, &g->used_mib, &g->util, &g->temp,
                       &g->power_mw, &g->sm, &g->mem, &g->ecc, &g->cc_major, &g->cc_minor,
                       &g->mig, &g->err) == 14)
                slots[n_gpus].index = n_gpus, n_gpus++;
        } else if (!strncmp(line, "proc ", 5) && n_procs < MAX_PROCS) {
            proc_t *p = &procs[n_procs];
            if (sscanf(line + 5, "%u|%u|%llu", &p->gpu, &p->pid, &p->used_mib) == 3) n_procs++;
        } else if (!strncmp(line, "xid ", 4) && n_xids < MAX_XIDS) {
            xid_t *x = &xids[n_xids];
            if (sscanf(line + 4, "%ld|%u|%llu", &x->seq, &x->gpu, &x->xid) == 3) n_xids++;
        } else if (!strncmp(line, "initerror ", 10)) {
            init_error = atoi(line + 10);
        } else if (!strncmp(line, "driver ", 7)) {
            snprintf(driver, sizeof driver, "%.79s", line + 7);
        }
    }
    fclose(f);
}

/* Resolve a handle to its GPU, or the error every call on it returns. */
static int lookup(device_t *d, gpu_t **out) {
    if (!init_count) return UNINIT;
    if (!d) return INVALID;
    load();
    if (d->index >= n_gpus) return LOST;
    if (gpus[d->index].err) return gpus[d->index].err;
    *out = &gpus[d->index];
    return OK;
}

#define GPU_OR_RETURN(d) gpu_t *g; { int rc_ = lookup((d), &g); if (rc_) return rc_; }

int nvmlInitWithFlags(unsigned flags) {
    (void)flags;
    load();
    if (init_error) return init_error;
    init_count++;
    return OK;
}
int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
int nvmlShutdown(void) {
    if (!init_count) return UNINIT;
    init_count--;
    return OK;
}

const char *nvmlErrorString(int rc) {
    switch (rc) {
    case OK: return "Success";
    case UNINIT: return "Uninitialized";
    case INVALID: return "Invalid Argument";
    case 3: return "Not Supported";
    case NOT_FOUND: return "Not Found";
    case SHORT: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case TIMEOUT: return "Timeout";
    case LOST: return "GPU is lost";
    default: return "Unknown Error";
    }
}

int nvmlSystemGetDriverVersion(char *buf, unsigned len) {
    if (!init_count) return UNINIT;
    if (strlen(driver) + 1 > len) return SHORT;
    strcpy(buf, driver);
    return OK;
}

int nvmlDeviceGetCount_v2(unsigned *count) {
    if (!init_count) return UNINIT;
    if (!count) return INVALID;
    load();
    *count = n_gpus;
    return OK;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, device_t **device) {
    if (!init_count) return UNINIT;
    load();
    if (index >= n_gpus || !device) return INVALID;
    *device = &slots[index];
    return OK;
}

static int copy_text(const char *text, char *buf, unsigned len) {
    if (strlen(text) + 1 > len) return SHORT;
    strcpy(buf, text);
    return OK;
}
int nvmlDeviceGetName(device_t *d, char *buf, unsigned len) {
    GPU_OR_RETURN(d);
    return copy_text(g->name, buf, len);
}
int nvmlDeviceGetUUID(device_t *d, char *buf, unsigned len) {
    GPU_OR_RETURN(d);
    return copy_text(g->uuid, buf, len);
}

int nvmlDeviceGetMemoryInfo(device_t *d, memory_t *m) {
    GPU_OR_RETURN(d);
    m->total = g->total_mib << 20;
    m->used = g->used_mib << 20;
    m->free = m->total > m->used ? m->total - m->used : 0;
    return OK;
}
int nvmlDeviceGetMemoryInfo_v2(device_t *d, memory_v2_t *m) {
    GPU_OR_RETURN(d);
    m->total = g->total_mib << 20;
    m->reserved = 0;
    m->used = g->used_mib << 20;
    m->free = m->total > m->used ? m->total - m->used : 0;
    return OK;
}

int nvmlDeviceGetUtilizationRates(device_t *d, utilization_t *u) {
    GPU_OR_RETURN(d);
    u->gpu = g->util;
    u->memory = g->total_mib ? (unsigned)(g->used_mib * 100 / g->total_mib) : 0;
    return OK;
}
int nvmlDeviceGetTemperature(device_t *d, int sensor, unsigned *t) {
    GPU_OR_RETURN(d);
    if (sensor != 0) return INVALID;
    *t = g->temp;
    return OK;
}
int nvmlDeviceGetPowerUsage(device_t *d, unsigned *mw) {
    GPU_OR_RETURN(d);
    *mw = g->power_mw;
    return OK;
}
int nvmlDeviceGetClockInfo(device_t *d, int type, unsigned *mhz) {
    GPU_OR_RETURN(d);
    if (type == 1) *mhz = g->sm;        /* NVML_CLOCK_SM */
    else if (type == 2) *mhz = g->mem;  /* NVML_CLOCK_MEM */
    else if (type == 0) *mhz = g->sm;   /* NVML_CLOCK_GRAPHICS */
    else return INVALID;
    return OK;
}
int nvmlDeviceGetTotalEccErrors(device_t *d, int error_type, int counter, unsigned long long *n) {
    GPU_OR_RETURN(d);
    (void)counter;
    *n = error_type == 1 ? g->ecc : 0;  /* only uncorrected (double-bit) errors are modelled */
    return OK;
}
int nvmlDeviceGetCudaComputeCapability(device_t *d, int *major, int *minor) {
    GPU_OR_RETURN(d);
    *major = (int)g->cc_major;
    *minor = (int)g->cc_minor;
    return OK;
}
int nvmlDeviceGetMigMode(device_t *d, unsigned *current, unsigned *pending) {
    GPU_OR_RETURN(d);
    *current = *pending = g->mig;
    return OK;
}

int nvmlDeviceGetComputeRunningProcesses_v3(device_t *d, unsigned *count, process_t *infos) {
    GPU_OR_RETURN(d);
    unsigned n = 0;
    for (unsigned i = 0; i < n_procs; i++) n += procs[i].gpu == d->index;
    if (!infos || *count < n) {
        int rc = (n == 0) ? OK : SHORT;
        *count = n;
        return rc;
    }
    unsigned k = 0;
    for (unsigned i = 0; i < n_procs; i++) {
        if (procs[i].gpu != d->index) continue;
        infos[k].pid = procs[i].pid;
        infos[k].used = procs[i].used_mib << 20;
        infos[k].gi = infos[k].ci = 0xFFFFFFFFu;
        k++;
    }
    *count = n;
    return OK;
}

int nvmlEventSetCreate(event_set_t **set) {
    if (!init_count) return UNINIT;
    *set = calloc(1, sizeof(event_set_t));
    return *set ? OK : 999;
}
int nvmlDeviceRegisterEvents(device_t *d, unsigned long long types, event_set_t *set) {
    GPU_OR_RETURN(d);
    (void)g;
    if (!set) return INVALID;
    set->registered[d->index] |= types;
    return OK;
}
int nvmlEventSetWait_v2(event_set_t *set, event_data_t *data, unsigned timeout_ms) {
    (void)timeout_ms;  /* never blocks: events are either pending in the file or not */
    if (!init_count) return UNINIT;
    load();
    xid_t *next = NULL;
    for (unsigned i = 0; i < n_xids; i++) {
        xid_t *x = &xids[i];
        if (x->seq > delivered_seq && x->gpu < n_gpus && (set->registered[x->gpu] & 8ULL) &&
            (!next || x->seq < next->seq))
            next = x;
    }
    if (!next) return TIMEOUT;
    delivered_seq = next->seq;
    data->device = &slots[next->gpu];
    data->type = 8ULL; /* nvmlEventTypeXidCriticalError */
    data->data = next->xid;
    data->gi = data->ci = 0xFFFFFFFFu;
    return OK;
}
int nvmlEventSetFree(event_set_t *set) {
    free(set);
    return OK;
}
