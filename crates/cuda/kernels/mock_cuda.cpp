// A CPU stand-in for the CUDA driver API and NVRTC entry points the launch path
// (src/gpu) calls, built by build.rs as shared libraries for the tests (libak_mock_cuda.so,
// and libak_mock_nvrtc_fail.so with AK_MOCK_NVRTC_FAIL, whose compile always fails). Device
// memory is host memory; cuLaunchKernel runs the named forward kernel through ak_host_launch
// with the same parameter array (n first), or, on a stream that is capturing, copies the
// parameters into the stream's graph as the driver does; an executable graph runs its
// launches in order. As in the driver, memory operations during a capture fail, a capture
// with a failed launch ends without a graph, and an executable graph takes an update only of
// the same number of launches. It exercises the Rust launch path's loading, argument packing,
// buffers, graphs and errors on machines without a GPU; it proves nothing about GPU
// arithmetic.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "host.cpp"

namespace {
const char* const kNames[AK_K_COUNT] = {
    "ak_fwd_embed",      "ak_fwd_scale",  "ak_fwd_rmsnorm",     "ak_fwd_quantize",
    "ak_fwd_norm_quant", "ak_fwd_matmul", "ak_fwd_rmsnorm_add", "ak_fwd_rope_kv",
    "ak_fwd_attention",  "ak_fwd_gated",  "ak_fwd_gated_quant", "ak_fwd_softcap",
    "ak_fwd_gather",     "ak_fwd_matmul_mma", "ak_fwd_attention_long",
    "ak_fwd_matmul_mma_warp", "ak_fwd_add_norm_quant", "ak_fwd_norm_rope_kv",
};
// Parameters after n of each kernel (ak_host_launch's argument lists).
const int kArgs[AK_K_COUNT] = {5, 2, 5, 4, 8, 23, 5, 12, 14, 4, 7, 2, 4, 23, 14, 23, 10, 17};
int g_module = 0;
int g_ids[AK_K_COUNT];
// One captured launch: the kernel and its parameter values (n first), 8 bytes each as the
// Rust launch path passes them.
struct Node {
    int kernel;
    std::vector<unsigned long long> params;
};
struct Graph {
    std::vector<Node> nodes;
};
struct Stream {
    Graph* capture = nullptr;  // the graph being captured, or null
    bool invalid = false;      // a launch failed during the capture
};
// Captures open on the calling thread (each test runs on its own thread).
thread_local int g_capturing = 0;
// Kernel launches run on their own and from graphs.
thread_local long long g_direct = 0, g_from_graphs = 0;
int run_node(const Node& node) {
    std::vector<void*> ptrs;
    for (const unsigned long long& p : node.params) ptrs.push_back((void*)&p);
    return ak_host_launch(node.kernel, (long long)node.params[0], ptrs.data() + 1) == 0 ? 0 : 1;
}
struct Prog {
    std::string log;
    bool ok = false;
};
}  // namespace

extern "C" {
int cuInit(unsigned) { return 0; }
int cuDeviceGet(int* d, int ordinal) {
    if (ordinal != 0) return 101;  // CUDA_ERROR_INVALID_DEVICE
    *d = 0;
    return 0;
}
int cuDeviceGetAttribute(int* v, int attr, int) {
    *v = attr == 75 ? 9 : 0;
    return 0;
}
int cuDevicePrimaryCtxRetain(void** ctx, int) {
    *ctx = &g_module;
    return 0;
}
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxSetCurrent(void*) { return 0; }
int cuModuleLoadData(void** m, const void* image) {
    if (std::strncmp((const char*)image, "// mock ptx", 11) != 0) return 200;  // INVALID_IMAGE
    *m = &g_module;
    return 0;
}
int cuModuleUnload(void*) { return 0; }
int cuModuleGetFunction(void** f, void*, const char* name) {
    for (int k = 0; k < AK_K_COUNT; k++) {
        if (std::strcmp(name, kNames[k]) == 0) {
            g_ids[k] = k;
            *f = &g_ids[k];
            return 0;
        }
    }
    return 500;  // CUDA_ERROR_NOT_FOUND
}
// Allocations so far by the calling thread (tests read it through ak_mock_allocations; each
// test runs on its own thread).
static thread_local long long g_allocations = 0;
long long ak_mock_allocations() { return g_allocations; }
int cuMemAlloc_v2(unsigned long long* p, size_t n) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    g_allocations++;
    void* m = std::malloc(n);
    if (!m) return 2;  // OUT_OF_MEMORY
    *p = (unsigned long long)m;
    return 0;
}
int cuMemFree_v2(unsigned long long p) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    std::free((void*)p);
    return 0;
}
int cuMemcpyHtoD_v2(unsigned long long d, const void* s, size_t n) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    std::memcpy((void*)d, s, n);
    return 0;
}
int cuMemcpyDtoH_v2(void* d, unsigned long long s, size_t n) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    std::memcpy(d, (const void*)s, n);
    return 0;
}
int cuMemAllocHost_v2(void** p, size_t n) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    void* m = std::malloc(n ? n : 1);
    if (!m) return 2;  // OUT_OF_MEMORY
    *p = m;
    return 0;
}
int cuMemFreeHost(void* p) {
    std::free(p);
    return 0;
}
int cuMemcpyDtoD_v2(unsigned long long d, unsigned long long s, size_t n) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    std::memcpy((void*)d, (const void*)s, n);
    return 0;
}
int cuMemsetD8_v2(unsigned long long d, unsigned char v, size_t n) {
    if (g_capturing) return 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
    std::memset((void*)d, v, n);
    return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned, void* stream, void** params, void** extra) {
    long long n = *(long long*)params[0];
    Stream* st = (Stream*)stream;
    int rc = 0;
    if (extra || gy != 1 || gz != 1 || by != 1 || bz != 1) rc = 1;  // INVALID_VALUE
    if ((long long)gx * bx < n) rc = 1;
    int kernel = *(int*)f;
    if (st && st->capture) {
        if (rc) {
            st->invalid = true;
            return rc;
        }
        Node node{kernel, {}};
        for (int i = 0; i <= kArgs[kernel]; i++) node.params.push_back(*(unsigned long long*)params[i]);
        st->capture->nodes.push_back(node);
        return 0;
    }
    if (rc) return rc;
    g_direct++;
    return ak_host_launch(kernel, n, params + 1) == 0 ? 0 : 1;
}
// CUlaunchAttribute and CUlaunchConfig as the driver declares them.
struct LaunchAttr {
    int id;
    char pad[4];
    unsigned char value[64];
};
struct LaunchConfig {
    unsigned gx, gy, gz, bx, by, bz, shared;
    void* stream;
    LaunchAttr* attrs;
    unsigned count;
};
// Launches with programmatic stream serialization (6) the calling thread made; with
// g_refuse_overlap, such a launch in a capture fails and invalidates it (a driver older than
// programmatic edges in captured graphs).
thread_local long long g_overlapped = 0;
thread_local int g_refuse_overlap = 0;
int cuLaunchKernelEx(const LaunchConfig* c, void* f, void** params, void** extra) {
    bool overlap = false;
    for (unsigned i = 0; i < c->count; i++) {
        if (c->attrs[i].id == 6) {
            int v;
            std::memcpy(&v, c->attrs[i].value, sizeof v);
            overlap = v != 0;
        } else if (c->attrs[i].id != 0) {
            return 1;  // INVALID_VALUE: an attribute the stand-in does not model
        }
    }
    Stream* st = (Stream*)c->stream;
    if (overlap && st && st->capture && g_refuse_overlap) {
        st->invalid = true;
        return 801;  // CUDA_ERROR_NOT_SUPPORTED
    }
    int rc = cuLaunchKernel(f, c->gx, c->gy, c->gz, c->bx, c->by, c->bz, c->shared, c->stream,
                            params, extra);
    if (rc == 0 && overlap) g_overlapped++;
    return rc;
}
int cuCtxSynchronize() { return g_capturing ? 900 : 0; }
int cuStreamCreate(void** s, unsigned) {
    *s = new Stream();
    return 0;
}
int cuStreamDestroy_v2(void* s) {
    Stream* st = (Stream*)s;
    if (st->capture) return 401;  // ILLEGAL_STATE
    delete st;
    return 0;
}
int cuStreamBeginCapture_v2(void* s, int) {
    Stream* st = (Stream*)s;
    if (!st || st->capture) return 1;  // the legacy stream, or a capture already open
    st->capture = new Graph();
    st->invalid = false;
    g_capturing++;
    return 0;
}
int cuStreamEndCapture(void* s, void** graph) {
    Stream* st = (Stream*)s;
    if (!st || !st->capture) return 1;
    g_capturing--;
    if (st->invalid) {
        delete st->capture;
        st->capture = nullptr;
        *graph = nullptr;
        return 901;  // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
    }
    *graph = st->capture;
    st->capture = nullptr;
    return 0;
}
int cuGraphDestroy(void* g) {
    delete (Graph*)g;
    return 0;
}
int cuGraphInstantiateWithFlags(void** exec, void* g, unsigned long long) {
    *exec = new Graph(*(Graph*)g);
    return 0;
}
struct UpdateInfo {
    int result;
    void* error_node;
    void* error_from_node;
};
int cuGraphExecUpdate_v2(void* exec, void* g, UpdateInfo* info) {
    Graph* e = (Graph*)exec;
    Graph* from = (Graph*)g;
    info->error_node = nullptr;
    info->error_from_node = nullptr;
    if (e->nodes.size() != from->nodes.size()) {
        info->result = 2;  // CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED
        return 910;        // CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE
    }
    e->nodes = from->nodes;
    info->result = 0;
    return 0;
}
int cuGraphExecDestroy(void* exec) {
    delete (Graph*)exec;
    return 0;
}
int cuGraphLaunch(void* exec, void* stream) {
    if (stream && ((Stream*)stream)->capture) return 900;
    for (const Node& node : ((Graph*)exec)->nodes) {
        g_from_graphs++;
        if (run_node(node)) return 1;
    }
    return 0;
}
// Launches the calling thread made as programmatic dependent launches.
long long ak_mock_overlapped() { return g_overlapped; }
// Makes the calling thread's captures refuse programmatic dependent launches (on != 0).
void ak_mock_refuse_overlap(int on) { g_refuse_overlap = on; }
// Kernel launches the calling thread ran on their own and from graphs.
void ak_mock_launch_counts(long long* direct, long long* from_graphs) {
    *direct = g_direct;
    *from_graphs = g_from_graphs;
}

int nvrtcCreateProgram(void** prog, const char* src, const char*, int nh, const char* const* hs,
                       const char* const* names) {
    Prog* p = new Prog();
    bool forward = false;
    for (int i = 0; i < nh; i++) forward = forward || (std::strcmp(names[i], "ak_forward.cuh") == 0 && hs[i][0]);
    p->ok = forward && std::strstr(src, "ak_forward.cuh") != nullptr;
    if (!p->ok) p->log = "mock nvrtc: ak_forward.cuh not given";
    *prog = p;
    return 0;
}
int nvrtcCompileProgram(void* prog, int n, const char* const* opts) {
    Prog* p = (Prog*)prog;
    const char* need[] = {"--fmad=false", "-prec-div=true", "-prec-sqrt=true", "-ftz=false"};
    for (const char* o : need) {
        bool found = false;
        for (int i = 0; i < n; i++) found = found || std::strcmp(opts[i], o) == 0;
        if (!found) {
            p->ok = false;
            p->log = std::string("mock nvrtc: missing option ") + o;
        }
    }
#ifdef AK_MOCK_NVRTC_FAIL
    p->ok = false;
    p->log = "ak_forward.cu(1): error: mock nvrtc refuses to compile";
#endif
    return p->ok ? 0 : 6;  // NVRTC_ERROR_COMPILATION
}
int nvrtcGetProgramLogSize(void* prog, size_t* n) {
    *n = ((Prog*)prog)->log.size() + 1;
    return 0;
}
int nvrtcGetProgramLog(void* prog, char* out) {
    std::memcpy(out, ((Prog*)prog)->log.c_str(), ((Prog*)prog)->log.size() + 1);
    return 0;
}
static const char kPtx[] = "// mock ptx\n";
int nvrtcGetPTXSize(void*, size_t* n) {
    *n = sizeof kPtx;
    return 0;
}
int nvrtcGetPTX(void*, char* out) {
    std::memcpy(out, kPtx, sizeof kPtx);
    return 0;
}
int nvrtcDestroyProgram(void** prog) {
    delete (Prog*)*prog;
    *prog = nullptr;
    return 0;
}
}  // extern "C"
