/* bridge's native call: one bridge method call, copy in to copy out, in one C function.
 *
 * bridge/runtime/instance.py uses it when it was built (hatch_build.py compiles it at
 * install, beside _ticker.c, when a C compiler and Python's headers are there); without
 * it the pure-Python fast path (_fastcall.py, cffi in ABI mode) does the same work.
 *
 * It links nothing of wasmtime: Python hands over the addresses of the C API functions it
 * calls (`init`), and per instance the store, its context and copies of the handle
 * structs of its memory, its `free` export and its method exports (`bind`).
 *
 * A call (`caller(handle)(slot, request, ticks)`), its epoch deadline `ticks` ahead (armed
 * here, on every call): the request is copied into the instance's request buffer, the
 * method export is called through wasmtime_func_call_unchecked, and
 * when its result is an ordinary response (no error bit, within the size limit, inside
 * memory) the response is copied into a new bytes object and, unless borrowed, freed
 * through the guest's `free`. It answers:
 *   bytes    the response;
 *   int >= 0 the method's raw (ptr, len) result, for Python to handle (a guest error,
 *            anything unusual): nothing was copied out or freed;
 *   None     the call trapped or failed: `failure(handle)` gives (error, trap) addresses,
 *            `deadline_hit(handle)` whether it was the deadline;
 *   -1       the request does not fit the request buffer (`set_request` after growing);
 *   -2       the request is not bytes; -3 the handle was closed.
 *
 * The GIL: a wasm call of a few microseconds costs less than handing the GIL to another
 * thread and taking it back, so a method whose recent calls were short (an average of
 * the durations measured here, per method, below `hold_below_ns`) is called with the
 * GIL held; others, and a method's first call, release it. So are short calls made while
 * 2 to `cores` threads call bridge (see shared_with_threads): then each releases the GIL
 * for the next, and the calls run on as many cores. The average moves an eighth
 * of the way to each new duration, counted as at most CLAMP times the threshold. A call
 * made with the GIL held that runs longer than YIELD_TICKS epoch ticks (~4-8 ms) gives
 * the GIL up there and then: the call arms its epoch deadline YIELD_TICKS ahead, and the
 * store's epoch-deadline callback (registered by `bind`) releases the GIL and lets the
 * guest run on to its real deadline. At the real deadline the callback fails the call
 * (wasmtime then answers an error, not a trap): `deadline_hit(handle)` says so, for
 * Python to raise DeadlineExceeded. So no call holds the GIL for more than a few ms of
 * wasm code; a wait inside a WASI function (a guest's sleep) runs no epoch check and
 * keeps it (BRIDGE_HOLD_GIL_US=0 for such guests). Host functions the guest calls take
 * the GIL either way (ctypes callbacks). With
 * `hold_below_ns` 0 (a Python ticker, which needs the GIL to tick), no call keeps the
 * GIL and no callback is registered: deadlines trap as wasmtime's own.
 *
 * Built with Python's limited API (3.10): one build serves every CPython 3.10+ of the
 * platform. */

#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030A0000
#include <Python.h>

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

#define HANDLE_NAME "bridge.runtime._native.handle"
#define STRUCT_MAX 32 /* bytes of wasmtime_func_t / wasmtime_memory_t we keep */
#define PTR_MASK 0xFFFFFFFFull
#define LEN_SHIFT 32
#define LEN_MASK ((1ull << 30) - 1)
#define BORROWED_BIT 62
#define ERROR_BIT 63
#define CLAMP 5 /* a duration counts as at most CLAMP times hold_below_ns */
#define YIELD_TICKS 2 /* a call holding the GIL gives it up after this many epoch ticks */
#define UPDATE_DEADLINE_CONTINUE 0

typedef intptr_t (*call_fn)(void *ctx, const void *func, uint64_t *args_and_results,
                            size_t len, intptr_t *trap);
typedef uint8_t *(*data_fn)(void *ctx, const void *memory);
typedef size_t (*size_fn)(void *ctx, const void *memory);
typedef void (*deadline_fn)(void *ctx, uint64_t ticks_beyond_current);
typedef void *(*error_fn)(const char *message);
typedef void *(*on_deadline_fn)(void *ctx, void *data, uint64_t *delta, uint8_t *kind);
typedef void (*register_fn)(void *store, on_deadline_fn func, void *data,
                            void (*finalizer)(void *));

static call_fn call_unchecked;
static data_fn memory_data;
static size_fn memory_data_size;
static deadline_fn set_deadline;
static error_fn error_new;
static register_fn register_callback;

typedef struct {
    uint64_t func[STRUCT_MAX / 8];
    int64_t average_ns; /* < 0: no call measured yet */
} Method;

typedef struct {
    void *ctx;
    uint64_t memory[STRUCT_MAX / 8];
    uint64_t free_func[STRUCT_MAX / 8];
    uint32_t request_ptr, request_cap;
    uint64_t max_len;
    int64_t hold_below_ns;
    intptr_t error, trap;
    int closed;
    /* The call under way: it holds the GIL (until the callback gives it up, into `saved`),
     * and how many ticks it may run once it did. */
    int holding;
    PyThreadState *saved;
    uint64_t rest_ticks;
    int deadline_hit;
    long long yields; /* calls that gave the GIL up mid-call, ever */
    Py_ssize_t count;
    Method methods[];
} State;

/* Short calls from several threads: while bridge calls come from 2 to `cores` threads
 * (each seen within CONTEND_NS), releasing the GIL around a short call lets them run on
 * as many cores, each handing the GIL straight to the next; a lone caller keeps it, and
 * so do more callers than cores (they would queue for the GIL at every call). Unless
 * giving it up proved dear: when taking the GIL back took over DEAR_NS (a thread busy in
 * Python had it, for up to a switch interval), short calls keep it for BUSY_NS.
 * Process-wide, read and written with the GIL held. */
#define CONTEND_NS 10000000LL /* 10 ms: two switch intervals */
#define DEAR_NS 1000000LL     /* 1 ms: a busy thread keeps the GIL a switch interval (5 ms) */
#define BUSY_NS 100000000LL   /* 100 ms */
#define RECENT 8              /* callers remembered */
static struct {
    unsigned long thread;
    int64_t at;
} recent[RECENT];
static int cores = 1;
static int64_t busy_until_ns;

/* Whether the calling thread, at `now`, shares bridge with other threads as above. */
static int shared_with_threads(int64_t now) {
    unsigned long me = PyThread_get_thread_ident();
    int mine = -1, oldest = 0, callers = 0;
    for (int i = 0; i < RECENT; i++) {
        if (recent[i].thread == me) mine = i;
        if (recent[i].at < recent[oldest].at) oldest = i;
    }
    if (mine < 0) {
        mine = oldest;
        recent[mine].thread = me;
    }
    recent[mine].at = now;
    for (int i = 0; i < RECENT; i++) {
        if (recent[i].thread && now - recent[i].at < CONTEND_NS) callers++;
    }
    return callers >= 2 && callers <= cores && now >= busy_until_ns;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static State *state_of(PyObject *handle) {
    return (State *)PyCapsule_GetPointer(handle, HANDLE_NAME);
}

static void destroy(PyObject *capsule) {
    PyMem_Free(PyCapsule_GetPointer(capsule, HANDLE_NAME));
}

static int copy_struct(uint64_t *into, PyObject *bytes, const char *what) {
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(bytes, &data, &size) < 0) return -1;
    if (size > STRUCT_MAX) {
        PyErr_Format(PyExc_ValueError, "%s is %zd bytes, more than %d", what, size, STRUCT_MAX);
        return -1;
    }
    memset(into, 0, STRUCT_MAX);
    memcpy(into, data, (size_t)size);
    return 0;
}

/* init(call_unchecked, memory_data, memory_data_size, set_epoch_deadline, error_new,
 * store_epoch_deadline_callback): the C API's addresses. */
static PyObject *init(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "init takes 6 addresses");
        return NULL;
    }
    void *a[6];
    for (int i = 0; i < 6; i++) {
        a[i] = PyLong_AsVoidPtr(args[i]);
        if (PyErr_Occurred()) return NULL;
        if (!a[i]) {
            PyErr_SetString(PyExc_ValueError, "a null address");
            return NULL;
        }
    }
    call_unchecked = (call_fn)a[0];
    memory_data = (data_fn)a[1];
    memory_data_size = (size_fn)a[2];
    set_deadline = (deadline_fn)a[3];
    error_new = (error_fn)a[4];
    register_callback = (register_fn)a[5];
    Py_RETURN_NONE;
}

/* The store's epoch-deadline callback: the first time a call holding the GIL reaches it,
 * give the GIL up and run on to the call's real deadline; else the deadline is reached. */
static void *on_deadline(void *ctx, void *data, uint64_t *delta, uint8_t *kind) {
    (void)ctx;
    State *state = (State *)data;
    if (state->holding && !state->saved && state->rest_ticks) {
        state->saved = PyEval_SaveThread();
        state->yields++;
        *delta = state->rest_ticks;
        *kind = UPDATE_DEADLINE_CONTINUE;
        return NULL;
    }
    state->deadline_hit = 1;
    return error_new("bridge: the call ran past its deadline");
}

/* bind(ctx, memory, free, methods, max_len, hold_below_ns, store) -> handle: `memory`,
 * `free` and each of the sequence `methods` are the bytes of wasmtime's handle structs;
 * `store` the wasmtime_store_t, whose epoch-deadline callback this takes over when
 * `hold_below_ns` > 0 (the handle must then live as long as the store is called). */
static PyObject *bind(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "bind takes 7 arguments");
        return NULL;
    }
    if (!call_unchecked) {
        PyErr_SetString(PyExc_RuntimeError, "init was not called");
        return NULL;
    }
    void *ctx = PyLong_AsVoidPtr(args[0]);
    void *store = PyLong_AsVoidPtr(args[6]);
    if (PyErr_Occurred()) return NULL;
    PyObject *methods = PySequence_Fast(args[3], "methods must be a sequence");
    if (!methods) return NULL;
    Py_ssize_t count = PySequence_Size(methods);
    unsigned long long max_len = PyLong_AsUnsignedLongLong(args[4]);
    long long hold_below = PyLong_AsLongLong(args[5]);
    State *state = NULL;
    if (count < 0 || PyErr_Occurred()) goto fail;
    state = PyMem_Calloc(1, sizeof(State) + (size_t)count * sizeof(Method));
    if (!state) {
        PyErr_NoMemory();
        goto fail;
    }
    state->ctx = ctx;
    state->max_len = max_len;
    state->hold_below_ns = hold_below;
    state->count = count;
    if (copy_struct(state->memory, args[1], "memory") < 0) goto fail;
    if (copy_struct(state->free_func, args[2], "free") < 0) goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PySequence_GetItem(methods, i);
        if (!item) goto fail;
        int bad = copy_struct(state->methods[i].func, item, "a method");
        Py_DECREF(item);
        if (bad) goto fail;
        state->methods[i].average_ns = -1;
    }
    Py_DECREF(methods);
    PyObject *capsule = PyCapsule_New(state, HANDLE_NAME, destroy);
    if (!capsule) {
        PyMem_Free(state);
        return NULL;
    }
    if (hold_below > 0) register_callback(store, on_deadline, state, NULL);
    return capsule;
fail:
    Py_DECREF(methods);
    PyMem_Free(state);
    return NULL;
}

/* set_request(handle, ptr, cap): the request buffer calls copy into. */
static PyObject *set_request(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "set_request takes 3 arguments");
        return NULL;
    }
    State *state = state_of(args[0]);
    unsigned long ptr = PyLong_AsUnsignedLong(args[1]);
    unsigned long cap = PyLong_AsUnsignedLong(args[2]);
    if (!state || PyErr_Occurred()) return NULL;
    if (ptr > PTR_MASK || cap > PTR_MASK) {
        PyErr_SetString(PyExc_ValueError, "a request buffer beyond 32 bits");
        return NULL;
    }
    state->request_ptr = (uint32_t)ptr;
    state->request_cap = (uint32_t)cap;
    Py_RETURN_NONE;
}

/* failure(handle) -> (error, trap): the last failed call's addresses, taken (reset). */
static PyObject *failure(PyObject *module, PyObject *handle) {
    (void)module;
    State *state = state_of(handle);
    if (!state) return NULL;
    PyObject *out = Py_BuildValue("(nn)", (Py_ssize_t)state->error, (Py_ssize_t)state->trap);
    state->error = state->trap = 0;
    return out;
}

/* deadline_hit(handle) -> whether the last failure was the deadline (then reset). */
static PyObject *deadline_hit(PyObject *module, PyObject *handle) {
    (void)module;
    State *state = state_of(handle);
    if (!state) return NULL;
    int hit = state->deadline_hit;
    state->deadline_hit = 0;
    return PyBool_FromLong(hit);
}

/* close(handle): later calls answer -3; the store is going away. */
static PyObject *close_handle(PyObject *module, PyObject *handle) {
    (void)module;
    State *state = state_of(handle);
    if (!state) return NULL;
    state->closed = 1;
    Py_RETURN_NONE;
}

/* held(handle, slot) -> whether the next call of method `slot` keeps the GIL, and the
 * average duration (ns, -1 before the first call). For tests and the benchmark. */
static PyObject *held(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "held takes 2 arguments");
        return NULL;
    }
    State *state = state_of(args[0]);
    Py_ssize_t slot = PyLong_AsSsize_t(args[1]);
    if (!state || PyErr_Occurred()) return NULL;
    if (slot < 0 || slot >= state->count) {
        PyErr_SetString(PyExc_IndexError, "no such method slot");
        return NULL;
    }
    int64_t average = state->methods[slot].average_ns;
    int hold = average >= 0 && average < state->hold_below_ns;
    return Py_BuildValue("(OLL)", hold ? Py_True : Py_False, (long long)average, state->yields);
}

/* The wasm call itself, its deadline `ticks` ahead: with the GIL held when the method has
 * been short (given up after YIELD_TICKS if it runs long), else released. */
static intptr_t invoke(State *state, Method *method, uint64_t *vals, intptr_t *trap,
                       uint64_t ticks) {
    int64_t began = now_ns();
    intptr_t error;
    int64_t average = method->average_ns;
    state->deadline_hit = 0;
    int shared = shared_with_threads(began);
    if (average >= 0 && average < state->hold_below_ns && !shared) {
        state->holding = 1;
        state->rest_ticks = ticks > YIELD_TICKS ? ticks - YIELD_TICKS : 0;
        set_deadline(state->ctx, ticks > YIELD_TICKS ? YIELD_TICKS : ticks);
        error = call_unchecked(state->ctx, method->func, vals, 2, trap);
        state->holding = 0;
        if (state->saved) { /* the callback gave the GIL up mid-call */
            PyEval_RestoreThread(state->saved);
            state->saved = NULL;
        }
    } else {
        set_deadline(state->ctx, ticks);
        int64_t done;
        Py_BEGIN_ALLOW_THREADS
        error = call_unchecked(state->ctx, method->func, vals, 2, trap);
        done = now_ns();
        Py_END_ALLOW_THREADS
        int64_t back = now_ns();
        if (shared && back - done > DEAR_NS) busy_until_ns = back + BUSY_NS;
        began += back - done; /* the wait for the GIL is not the call's duration */
    }
    /* A call preempted by another process reads long: one sample moves the average by
     * at most an eighth of CLAMP times the threshold, so two long calls in a row make
     * the next calls release the GIL, and one preemption does not. */
    int64_t took = now_ns() - began, most = CLAMP * state->hold_below_ns;
    if (took > most) took = most;
    method->average_ns = average < 0 ? took : average + (took - average) / 8;
    return error;
}

static PyObject *failed(State *state, intptr_t error, intptr_t trap) {
    state->error = error;
    state->trap = trap;
    Py_RETURN_NONE;
}

/* The bound call: self is the handle; (slot, request, deadline ticks). */
static PyObject *call(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "a call takes (slot, request, ticks)");
        return NULL;
    }
    State *state = state_of(self);
    if (!state) return NULL;
    if (state->closed) return PyLong_FromLong(-3);
    Py_ssize_t slot = PyLong_AsSsize_t(args[0]);
    if (slot == -1 && PyErr_Occurred()) return NULL;
    if (slot < 0 || slot >= state->count) {
        PyErr_SetString(PyExc_IndexError, "no such method slot");
        return NULL;
    }
    unsigned long long ticks = PyLong_AsUnsignedLongLong(args[2]);
    if (ticks == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    PyObject *request = args[1];
    if (!PyBytes_Check(request)) return PyLong_FromLong(-2);
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(request, &data, &size) < 0) return NULL;
    uint32_t ptr = 0;
    if (size) {
        if ((uint64_t)size > state->request_cap) return PyLong_FromLong(-1);
        ptr = state->request_ptr;
        uint8_t *base = memory_data(state->ctx, state->memory);
        if ((uint64_t)ptr + (uint64_t)size > memory_data_size(state->ctx, state->memory))
            return PyLong_FromLong(-1); /* cannot happen: the buffer came from malloc */
        memcpy(base + ptr, data, (size_t)size);
    }
    uint64_t vals[4] = {ptr, 0, (uint64_t)size, 0}; /* two 16-byte raw slots */
    intptr_t trap = 0;
    intptr_t error = invoke(state, &state->methods[slot], vals, &trap, ticks);
    if (error || trap) return failed(state, error, trap);
    uint64_t raw = vals[0];
    uint64_t out_ptr = raw & PTR_MASK, length = (raw >> LEN_SHIFT) & LEN_MASK;
    if (raw >> ERROR_BIT || length > state->max_len || (length && !out_ptr))
        return PyLong_FromUnsignedLongLong(raw);
    PyObject *response;
    if (length) {
        /* The memory may have grown during the call, never moved (memory_may_move off). */
        if (out_ptr + length > memory_data_size(state->ctx, state->memory))
            return PyLong_FromUnsignedLongLong(raw);
        uint8_t *base = memory_data(state->ctx, state->memory);
        response = PyBytes_FromStringAndSize((const char *)base + out_ptr, (Py_ssize_t)length);
    } else {
        response = PyBytes_FromStringAndSize(NULL, 0);
    }
    if (!response) return NULL;
    if (out_ptr && !((raw >> BORROWED_BIT) & 1)) {
        uint64_t free_vals[2] = {out_ptr, 0};
        trap = 0;
        error = call_unchecked(state->ctx, state->free_func, free_vals, 1, &trap);
        if (error || trap) {
            Py_DECREF(response);
            return failed(state, error, trap);
        }
    }
    return response;
}

static PyMethodDef call_def = {"call", (PyCFunction)(void (*)(void))call, METH_FASTCALL,
                               "call(slot, request, ticks): see bridge/runtime/_native.c"};

/* caller(handle) -> the call function bound to the handle. */
static PyObject *caller(PyObject *module, PyObject *handle) {
    (void)module;
    if (!state_of(handle)) return NULL;
    return PyCFunction_NewEx(&call_def, handle, NULL);
}

static PyMethodDef functions[] = {
    {"init", (PyCFunction)(void (*)(void))init, METH_FASTCALL,
     "init(call, data, size, set_deadline, error_new, deadline_callback)"},
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL,
     "bind(ctx, memory, free, methods, max_len, hold_below_ns, store) -> handle"},
    {"deadline_hit", deadline_hit, METH_O, "deadline_hit(handle) -> bool"},
    {"set_request", (PyCFunction)(void (*)(void))set_request, METH_FASTCALL,
     "set_request(handle, ptr, cap)"},
    {"failure", failure, METH_O, "failure(handle) -> (error, trap)"},
    {"close", close_handle, METH_O, "close(handle)"},
    {"held", (PyCFunction)(void (*)(void))held, METH_FASTCALL,
     "held(handle, slot) -> (keeps the GIL, average ns)"},
    {"caller", caller, METH_O, "caller(handle) -> call(slot, request)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_native", "bridge's native call (see _native.c)", -1, functions,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
#else
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online > 0) cores = (int)online;
#endif
    return PyModule_Create(&module_def);
}
