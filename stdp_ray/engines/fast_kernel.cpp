/* The fast engine's kernel: the Diehl & Cook (2015) network of
 * stdp_ray.model, the same equations, constants, input spikes and schedule
 * as the exact kernel (native_kernel.cpp), free of bit-identity.
 *
 * Contract (what a caller may rely on):
 *  - Same model: forward Euler at dt, Brian2's order of operations within a
 *    step (state updates, thresholds, exc->inh, inh->exc, input arrivals
 *    (on_pre), on_post, resets), the same input raster bit for bit (the
 *    shared input_hash.h, compared in the integer domain), the same delays,
 *    refractoriness, timer and adaptive threshold rules.
 *  - Not the same bits: neuron state and weights are float32 (theta double);
 *    the STDP traces are held per neuron and per input neuron, not per
 *    synapse (below); sums are accumulated in another order.
 *  - Results do not depend on the number of threads up to float rounding of
 *    the inhibitory sums (each thread owns a range of neurons and their
 *    synapses, as in the exact kernel).
 *
 * Arrivals. An input spike of neuron i at step s is delivered to every
 * target j at once ("eager"), one contiguous pass over row i of the
 * pixel-major weights and delays: w_ij is added to a ring of future
 * conductances at slot s + d_ij, and the depression of its arrival,
 * nu_pre * post1_j(s + d_ij), is applied with post1 predicted from j's last
 * spike. Step t then adds ring slot t to ge. The prediction, and the weight
 * the arrival carries, are wrong only where j spikes while the spike is in
 * flight (s <= u < s + d_ij): j's on_post then repairs those synapses from
 * the weights they had before each in-flight arrival (kept per spike, a row
 * of `snap`), in Brian2's order: potentiation at u, then each arrival with
 * the weight it now carries (the ring slot corrected) and post1 restarted at u.
 *
 * Where the targets of one input neuron do not fit a cache-friendly ring
 * (thousands of neurons), arrivals are "lazy" instead, as in the exact
 * kernel: in each step, every spike emitted d steps ago reaches its
 * synapses of delay d, a contiguous group of the weights in group order.
 * The caller chooses (FastModel.lazy, by measurement).
 *
 * Traces. post1 and post2 of synapse (i, j) are set to 1 at every spike of
 * exc neuron j and decay alike in every synapse onto j: they are functions of
 * j's last spike step `tpost[j]`. For on_pre the depression
 * nu_pre * post1_j(t) is written as c(t) * A1[j] with
 * A1[j] = exp((tpost[j] - base) dt / tau_post1) and
 * c(t) = nu_pre exp(-(t - base) dt / tau_post1), one exp per step (`base` is
 * moved forward before A1 could overflow). `pre` of synapse (i, j) is
 * exp(-(t - a) dt / tau_pre) with a the last arrival at the synapse: the last
 * spike s of input i with s + d_ij <= t, plus d_ij. It is needed only when j
 * spikes, and found from input i's spikes of this presentation (a cursor per
 * input neuron) or its last spike of an earlier one (`in_last`).
 *
 * Savings that change nothing: an inhibitory neuron whose state is a fixed
 * point of its update (no conductance, v unchanged) is skipped until its
 * partner spikes; in training, once the input is over and every conductance
 * has decayed below float32 resolution (and no neuron is refractory or can
 * reach its threshold), the excitatory membranes relax in closed form to the
 * end of the presentation. Frozen passes simulate the presentation window
 * only: the state is reset before every sample and later spikes are not
 * counted.
 *
 * The functions take plain pointers (ctypes); the caller owns every array.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#define STDP_FAST_ISA "avx512"
#elif defined(__AVX2__)
#include <immintrin.h>
#define STDP_FAST_ISA "avx2"
#else
#define STDP_FAST_ISA "scalar"
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "input_hash.h"

extern "C" {

/* Constants of one presentation (float32 factors; the Python side computes
 * them from the Config and documents each). */
typedef struct {
    int64_t n_in;           /* input neurons */
    int64_t n;              /* exc neurons (as many inh) */
    int64_t present_steps;  /* steps with input */
    int64_t steps;          /* steps simulated per presentation */
    int64_t max_delay;      /* largest input->exc delay in steps */
    double dt;              /* seconds */
    float exc_keep_ge;      /* 1 - dt / tau_ge */
    float exc_keep_gi;      /* 1 - dt / tau_gi */
    float exc_cv;           /* dt / tau_mem */
    float exc_v_rest, exc_e_inh, exc_v_reset, exc_v_thresh;  /* V */
    float inh_keep_ge;
    float inh_keep_gi;
    float inh_cv;
    float inh_v_rest, inh_e_inh, inh_v_reset, inh_v_thresh;
    int32_t exc_ref_steps;  /* refractory while t - tpost < ref_steps */
    int32_t inh_ref_steps;
    int32_t timer_min_steps; /* exc may spike once timer (steps since reset) >= this */
    int32_t lazy;           /* 0: eager arrivals (a ring), 1: lazy (delay groups), below */
    float w_exc_inh, w_inh_exc;
    float nu_pre, nu_post, w_max;
    float g_quiet;          /* conductances below this count as decayed (rest skip) */
    double theta_plus;      /* V */
    double tau_theta;       /* s */
    double tau_pre, tau_post1, tau_post2;  /* s */
    /* Delay of input synapse (i, j) in steps at [i * n + j] (pixel-major, as
     * the weights). Thread tid of n_threads owns the neurons
     * [share_start(tid), share_start(tid + 1)): whole cache lines of every
     * per-neuron and pixel-major array, so no line is written by two threads. */
    const uint16_t *delay;
    int64_t n_threads;
    /* Lazy only: the input synapses grouped by (input neuron, delay), as the
     * exact kernel's (stdp_ray.engines.layout): group g = i*(max_delay+1)+d
     * stored thread by thread (no cache line written by two threads): thread
     * tid's entries of group g are [grp_split[g*T+tid], grp_split[(g+1)*T+tid])
     * of grp_post (target j, ascending) and of the weights, which are then in
     * this order. post_pos row j (n_in entries): the position of synapse (i, j). */
    const int32_t *grp_post;
    const int32_t *grp_split;
    const int32_t *post_pos;
} FastModel;

/* Neuron state, float32 structure of arrays; times in steps relative to the
 * start of the current presentation (NEVER: never spiked). */
typedef struct {
    float *v, *ge, *gi;
    int32_t *treset;  /* step at which the timer was 0: timer = t - treset (steps) */
    int32_t *tpost;   /* step of the last spike */
} FastNeurons;

/* The plastic state besides the neurons. */
typedef struct {
    float *w;              /* weights: pixel-major, synapse (i, j) at [i * n + j] (eager), or
                            * in group order (lazy) */
    double *theta;         /* V, per exc neuron */
    int32_t *in_last;      /* per input neuron: its last spike step before this presentation */
    float *post2before;    /* per exc neuron: post2 just before its last spike */
} FastPlastic;

/* Weight statistics of a presentation's end, and normalisation. */
typedef struct {
    double sum, sum_sq;
} FastWeightStats;

}  // extern "C"

namespace {

/* Profiling builds (-DSTDP_FAST_PROFILE) keep the phases apart for perf. */
#ifdef STDP_FAST_PROFILE
#define PHASE __attribute__((noinline))
#else
#define PHASE inline
#endif

const int32_t NEVER = -1000000000;

inline float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* First neuron of thread tid's share: tid * n / T rounded up to 16 (one
 * cache line of floats); stdp_ray.engines.layout.share_starts is its twin. */
inline int64_t share_start(int64_t tid, int64_t T, int64_t n) {
    if (tid >= T) return n;
    return std::min<int64_t>(n, (tid * n / T + 15) / 16 * 16);
}

/* ---------------------------------------------------------------------------
 * Input raster: the exact kernel's, by step (arrivals) and by input neuron
 * (the pre traces). u < p is compared as (h >> 11) < ceil(p * 2^53), exactly.
 * ------------------------------------------------------------------------- */
struct Raster {
    std::vector<int32_t> spikes, step;  /* step-major, neurons ascending */
    std::vector<int64_t> start;         /* CSR offsets per step */
    std::vector<int32_t> in_start;      /* CSR offsets per input neuron */
    std::vector<int32_t> in_steps;      /* spike steps of each input neuron, ascending */
    std::vector<int32_t> in_serial;     /* ... and their index in the step-major list */
    int64_t window_max = 0;             /* most spikes in any max_delay + 1 steps */
    std::vector<uint64_t> keys, thresh;
    std::vector<int32_t> active;
    std::vector<uint8_t> fire;
};

void input_raster(const FastModel &m, const double *rates, int64_t seed, int64_t stream,
                  int64_t sample, int64_t attempt, Raster &r, bool by_input) {
    r.active.clear();
    r.keys.clear();
    r.thresh.clear();
    for (int64_t i = 0; i < m.n_in; ++i) {
        if (rates[i] > 0.0) {
            const double p = m.dt * rates[i];
            r.active.push_back((int32_t)i);
            r.keys.push_back(input_key(seed, stream, sample, attempt, i));
            /* u = k * 2^-53 < p  <=>  k < ceil(p * 2^53) (p * 2^53 is exact) */
            const double scaled = p * 9007199254740992.0;
            r.thresh.push_back(scaled >= 9007199254740992.0 ? (uint64_t)1 << 53
                                                             : (uint64_t)ceil(scaled));
        }
    }
    const size_t n_active = r.active.size();
    r.fire.resize(n_active);
    r.spikes.clear();
    r.step.clear();
    r.start.assign(m.present_steps + 1, 0);
    const uint64_t *keys = r.keys.data(), *thr = r.thresh.data();
    uint8_t *fire = r.fire.data();
    for (int64_t step = 0; step < m.present_steps; ++step) {
        r.start[step] = (int64_t)r.spikes.size();
        const uint64_t s = (uint64_t)step;
        /* vectorisable: one hash per active input neuron */
        for (size_t a = 0; a < n_active; ++a) {
            uint64_t z = (keys[a] ^ s) + 0x9E3779B97F4A7C15ULL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z = z ^ (z >> 31);
            fire[a] = (z >> 11) < thr[a];
        }
        /* spikes are rare (about one per step): skip 8 quiet neurons at a time */
        size_t a = 0;
        for (; a + 8 <= n_active; a += 8) {
            uint64_t word;
            memcpy(&word, fire + a, 8);
            if (!word) continue;
            for (size_t b = a; b < a + 8; ++b)
                if (fire[b]) {
                    r.spikes.push_back(r.active[b]);
                    r.step.push_back((int32_t)step);
                }
        }
        for (; a < n_active; ++a)
            if (fire[a]) {
                r.spikes.push_back(r.active[a]);
                r.step.push_back((int32_t)step);
            }
    }
    r.start[m.present_steps] = (int64_t)r.spikes.size();
    r.window_max = 0;
    for (int64_t step = 0; step < m.present_steps; ++step) {
        const int64_t from = step - m.max_delay > 0 ? step - m.max_delay : 0;
        r.window_max = std::max<int64_t>(r.window_max, r.start[step + 1] - r.start[from]);
    }
    if (!by_input) return;
    r.in_start.assign(m.n_in + 1, 0);
    for (int32_t i : r.spikes) r.in_start[i + 1] += 1;
    for (int64_t i = 0; i < m.n_in; ++i) r.in_start[i + 1] += r.in_start[i];
    r.in_steps.resize(r.spikes.size());
    r.in_serial.resize(r.spikes.size());
    std::vector<int32_t> fill(r.in_start.begin(), r.in_start.end() - 1);
    for (size_t q = 0; q < r.spikes.size(); ++q) {
        const int32_t k = fill[r.spikes[q]]++;
        r.in_steps[k] = r.step[q];
        r.in_serial[k] = (int32_t)q;
    }
}

/* ---------------------------------------------------------------------------
 * Eager arrivals: input spike (row i) at step t, for the targets [lo, hi).
 * ring[slot * n + j] holds the conductance arriving at steps = slot (mod R).
 * Plastic: the weights before are kept in snap_row, then
 * w = clip(w - c * a1[j] * f1[d], 0, w_max) with c * a1[j] * f1[d] the
 * predicted nu_pre * post1_j(t + d).
 * ------------------------------------------------------------------------- */
template <bool Plastic>
PHASE void emit_row(const float *__restrict w_row_c, float *__restrict w_row,
                     const uint16_t *__restrict d_row, float *__restrict ring, int64_t n,
                     int32_t rmask, int32_t t, int64_t lo, int64_t hi,
                     float *__restrict snap_row, const float *__restrict a1,
                     const float *__restrict f1, float c, float w_max) {
    int64_t j = lo;
#if defined(__AVX512F__)
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i vt = _mm512_set1_epi32(t), vmask = _mm512_set1_epi32(rmask),
                  vn = _mm512_set1_epi32((int32_t)n);
    const __m512 zero = _mm512_setzero_ps(), vc = _mm512_set1_ps(c), vmax = _mm512_set1_ps(w_max);
    for (; j < hi; j += 16) {
        const int64_t left = hi - j;
        const __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __m512i d = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, d_row + j));
        const __m512i slot = _mm512_and_si512(_mm512_add_epi32(d, vt), vmask);
        const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(slot, vn),
                                             _mm512_add_epi32(_mm512_set1_epi32((int32_t)j), iota));
        const __m512 w0 = _mm512_maskz_loadu_ps(k, (Plastic ? w_row : w_row_c) + j);
        const __m512 g = _mm512_add_ps(_mm512_mask_i32gather_ps(zero, k, idx, ring, 4), w0);
        _mm512_mask_i32scatter_ps(ring, k, idx, g, 4);
        if (Plastic) {
            _mm512_mask_storeu_ps(snap_row + j, k, w0);
            const __m512 f = _mm512_mask_i32gather_ps(zero, k, d, f1, 4);
            const __m512 dep = _mm512_mul_ps(_mm512_mul_ps(vc, _mm512_maskz_loadu_ps(k, a1 + j)), f);
            const __m512 w1 = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(w0, dep), zero), vmax);
            _mm512_mask_storeu_ps(w_row + j, k, w1);
        }
    }
#else
    for (; j < hi; ++j) {
        const int32_t d = d_row[j];
        const float w0 = Plastic ? w_row[j] : w_row_c[j];
        ring[(int64_t)((t + d) & rmask) * n + j] += w0;
        if (Plastic) {
            snap_row[j] = w0;
            w_row[j] = clampf(w0 - c * a1[j] * f1[d], 0.0f, w_max);
        }
    }
#endif
}

/* Lazy arrivals of one delay group's entries [lo, hi): ge[post[e]] += w[e],
 * and in training w[e] = clip(w[e] - c * a1[post[e]], 0, w_max). */

PHASE void arrive_frozen(const int32_t *__restrict post, const float *__restrict w,
                          float *__restrict ge, int64_t lo, int64_t hi) {
    int64_t e = lo;
#if defined(__AVX512F__)
    for (; e + 16 <= hi; e += 16) {
        const __m512i j = _mm512_loadu_si512((const void *)(post + e));
        const __m512 g = _mm512_add_ps(_mm512_i32gather_ps(j, ge, 4), _mm512_loadu_ps(w + e));
        _mm512_i32scatter_ps(ge, j, g, 4);
    }
    if (e < hi) {
        const __mmask16 k = (__mmask16)((1u << (hi - e)) - 1u);
        const __m512i j = _mm512_maskz_loadu_epi32(k, post + e);
        const __m512 g = _mm512_add_ps(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, j, ge, 4),
                                       _mm512_maskz_loadu_ps(k, w + e));
        _mm512_mask_i32scatter_ps(ge, k, j, g, 4);
    }
#else
    for (; e < hi; ++e) ge[post[e]] += w[e];
#endif
}

PHASE void arrive_plastic(const int32_t *__restrict post, float *__restrict w,
                           float *__restrict ge, const float *__restrict a1, float c,
                           float w_max, int64_t lo, int64_t hi) {
    int64_t e = lo;
#if defined(__AVX512F__)
    const __m512 vc = _mm512_set1_ps(c), vmax = _mm512_set1_ps(w_max), zero = _mm512_setzero_ps();
    for (; e < hi; e += 16) {
        const int64_t left = hi - e;
        const __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
        const __m512i j = _mm512_maskz_loadu_epi32(k, post + e);
        const __m512 w0 = _mm512_maskz_loadu_ps(k, w + e);
        const __m512 g = _mm512_add_ps(_mm512_mask_i32gather_ps(zero, k, j, ge, 4), w0);
        _mm512_mask_i32scatter_ps(ge, k, j, g, 4);
        const __m512 dep = _mm512_mul_ps(vc, _mm512_mask_i32gather_ps(zero, k, j, a1, 4));
        const __m512 w1 = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(w0, dep), zero), vmax);
        _mm512_mask_storeu_ps(w + e, k, w1);
    }
#else
    for (; e < hi; ++e) {
        const int32_t j = post[e];
        const float w0 = w[e];
        ge[j] += w0;
        w[e] = clampf(w0 - c * a1[j], 0.0f, w_max);
    }
#endif
}

/* ge[j] += ring slot; the slot emptied for its next turn. */
PHASE void deliver(float *__restrict ge, float *__restrict slot, int64_t len) {
    for (int64_t j = 0; j < len; ++j) {
        ge[j] += slot[j];
        slot[j] = 0.0f;
    }
}

/* ---------------------------------------------------------------------------
 * One Euler step of a thread's excitatory neurons (branch-free: vectorises),
 * after adding the previous step's arrivals from its ring slot (eager; the
 * slot is emptied). Returns whether any may spike: v > thr, where thr is
 * +inf while the timer or refractoriness forbid a spike (the caller keeps
 * those neurons on a list). Refractory neurons are integrated too; the
 * caller puts back their clamped v. The inhibitory conductance is the same
 * for every neuron, `gi` (every inh spike reaches all exc neurons but its
 * partner): the caller corrects the few whose partner spiked recently.
 * ------------------------------------------------------------------------- */
template <bool Ring>
__attribute__((noinline)) bool exc_step(int64_t len, float *__restrict v, float *__restrict ge,
                                        float gi, float *__restrict slot,
                                        const float *__restrict thr, const FastModel &m) {
    const float cv = m.exc_cv, rest = m.exc_v_rest, einh = m.exc_e_inh;
    const float kge = m.exc_keep_ge, h = gi;
    int32_t any = 0;
    for (int64_t j = 0; j < len; ++j) {
        float g = ge[j];
        if (Ring) {
            g += slot[j];
            slot[j] = 0.0f;
        }
        const float vv = v[j];
        const float vn = vv + cv * ((rest - vv) - g * vv + h * (einh - vv));
        v[j] = vn;
        ge[j] = g * kge;
        any |= (int32_t)(vn > thr[j]);
    }
    return any != 0;
}

struct Spike {
    int32_t j;      /* global neuron index */
    int32_t prev;   /* its tpost before this spike */
};

/* What one thread keeps between steps. */
struct Local {
    std::vector<Spike> exc_spk;
    std::vector<int32_t> inh_spk;              /* global j */
    std::vector<int32_t> inh_active;           /* local jj, unordered */
    std::vector<uint8_t> inh_is_active;        /* local */
    std::vector<float> thr;                    /* local: v_thresh + theta, +inf when blocked */
    std::vector<float> thr_open;               /* local: v_thresh + theta */
    std::vector<int32_t> tblock;               /* local: no spike before this step */
    std::vector<int32_t> blocked;              /* local jj whose thr is +inf now */
    std::vector<int32_t> held;                 /* local jj of refractory exc neurons */
    std::vector<int32_t> cursor;               /* per input: spikes seen so far */
    /* exc gi = G + x[jj]: G common to all, x for the few whose partner spiked */
    float G = 0.0f;
    std::vector<int32_t> x_of;                 /* local jj -> index in xs, or -1 */
    std::vector<std::pair<int32_t, float>> xs; /* (jj, x) */
    std::vector<float> v_old;
    void add_x(int32_t jj, float dx) {
        if (x_of[jj] < 0) {
            x_of[jj] = (int32_t)xs.size();
            xs.push_back({jj, 0.0f});
        }
        xs[x_of[jj]].second += dx;
    }
};

struct Shared {
    int64_t *inh_counts;    /* 2 * T: inh spikes per thread, double-buffered by step */
    uint8_t *quiet;         /* 2 * T: rest skip votes, double-buffered */
    float *ring;            /* R * n future conductances */
    int32_t rmask;          /* R - 1 (R a power of two > max_delay) */
    float *snap;            /* S * n weights before each in-flight spike (plastic) */
    int64_t smask;          /* S - 1 (S a power of two >= the raster's window_max) */
    const float *f1;        /* exp(-d dt / tau_post1), d = 0..max_delay */
};

inline float pre_trace(int32_t elapsed, double dt_over_tau, const std::vector<float> &table) {
    if (elapsed < (int32_t)table.size()) return table[elapsed];
    const double a = -(double)elapsed * dt_over_tau;
    return a < -104.0 ? 0.0f : (float)exp(a);
}

/* One presentation from t = 0 for the neurons [lo, hi) of thread tid of T. */
template <bool Plastic>
int64_t present_share(const FastModel &m, FastNeurons exc, FastNeurons inh, FastPlastic pl,
                      const float *w_frozen, const float *theta_frozen, float *a1,
                      const Raster &r, int32_t *counts, Shared sh, int64_t tid, int64_t T,
                      const std::vector<float> &pre_table) {
    const uint16_t *delay = m.delay;
    const int64_t n = m.n, D = m.max_delay, n_in = m.n_in;
    const int64_t lo = share_start(tid, T, n), hi = share_start(tid + 1, T, n), len = hi - lo;
    const double dt = m.dt;
    Local s;
    s.thr_open.resize(len);
    for (int64_t jj = 0; jj < len; ++jj)
        s.thr_open[jj] = Plastic ? (float)((double)m.exc_v_thresh + pl.theta[lo + jj])
                                 : m.exc_v_thresh + theta_frozen[lo + jj];
    s.thr = s.thr_open;
    s.inh_is_active.assign(len, 0);
    for (int64_t jj = 0; jj < len; ++jj) {
        /* an inh neuron not at rest, or with a conductance, is simulated */
        if (inh.ge[lo + jj] != 0.0f || inh.v[lo + jj] != m.inh_v_rest ||
            (0 - inh.tpost[lo + jj]) < m.inh_ref_steps) {
            s.inh_is_active[jj] = 1;
            s.inh_active.push_back((int32_t)jj);
        }
    }
    float *v = exc.v + lo, *ge = exc.ge + lo, *gi = exc.gi + lo;
    int32_t *treset = exc.treset + lo, *tpost = exc.tpost + lo;
    /* refractory: t - tpost < ref; the timer: t - treset >= timer_min */
    auto block_until = [&](int64_t jj) {
        const int64_t a = (int64_t)tpost[jj] + m.exc_ref_steps;
        const int64_t b = (int64_t)treset[jj] + m.timer_min_steps;
        return (int32_t)std::max<int64_t>(INT32_MIN + 1, std::max(a, b));
    };
    s.tblock.resize(len);
    const float closed = INFINITY;
    for (int64_t jj = 0; jj < len; ++jj) {
        s.tblock[jj] = block_until(jj);
        if ((0 - (int64_t)tpost[jj]) < m.exc_ref_steps) s.held.push_back((int32_t)jj);
        if (s.tblock[jj] > 0) {
            s.thr[jj] = closed;
            s.blocked.push_back((int32_t)jj);
        }
    }
    float *pending = nullptr;  /* eager: the ring slot of the previous step */
    s.x_of.assign(len, -1);
    for (int64_t jj = 0; jj < len; ++jj)
        if (gi[jj] != 0.0f) s.add_x((int32_t)jj, gi[jj]);
    /* post1 as c(t) * a1[j]; base moves forward before exp overflows float */
    const double k1 = dt / m.tau_post1, k2 = dt / m.tau_post2, kp = dt / m.tau_pre;
    const int64_t rebase_every = std::max<int64_t>(1, (int64_t)(60.0 / k1));
    int64_t base = 0;
    if (Plastic) {
        for (int64_t jj = 0; jj < len; ++jj)
            a1[lo + jj] = tpost[jj] <= NEVER ? 0.0f : (float)exp((double)tpost[jj] * k1);
        s.cursor.assign(n_in, 0);
    }
    const int64_t quiet_from = m.present_steps + D + 1;
    int64_t total = 0;
    for (int64_t step = 0; step < m.steps; ++step) {
        const int32_t t = (int32_t)step;
        if (Plastic && step - base >= rebase_every) {
            const float f = (float)exp(-(double)rebase_every * k1);
            for (int64_t jj = 0; jj < len; ++jj) a1[lo + jj] *= f;
            base += rebase_every;
        }
        /* rest skip: every thread quiet (no input left, conductances decayed,
         * nothing refractory, every membrane and its rest below threshold) */
        if (Plastic && step >= quiet_from && ((step - quiet_from) & 15) == 0) {
            bool q = s.inh_active.empty();
            const float gq = m.g_quiet;
            for (int64_t jj = 0; q && jj < len; ++jj)
                q = fabsf(ge[jj]) < gq && fabsf(s.G) < gq && s.held.empty() &&
                    v[jj] < s.thr_open[jj] && m.exc_v_rest < s.thr_open[jj];
            for (size_t e = 0; q && e < s.xs.size(); ++e) q = fabsf(s.G + s.xs[e].second) < gq;
            bool all = q;
            if (T > 1) {
                uint8_t *slot = sh.quiet + ((step >> 4) & 1) * T;
                slot[tid] = q;
#pragma omp barrier
                all = true;
                for (int64_t u = 0; u < T; ++u) all = all && slot[u];
            }
            if (all) {
                const int64_t k = m.steps - step;
                const float rv = (float)pow(1.0 - (double)m.exc_cv, (double)k);
                const float rge = (float)pow((double)m.exc_keep_ge, (double)k);
                const float rgi = (float)pow((double)m.exc_keep_gi, (double)k);
                for (int64_t jj = 0; jj < len; ++jj) {
                    v[jj] = m.exc_v_rest + (v[jj] - m.exc_v_rest) * rv;
                    ge[jj] *= rge;
                }
                s.G *= rgi;
                for (auto &e : s.xs) e.second *= rgi;
                break;
            }
        }
        /* state updates and thresholds */
        /* neurons whose timer and refractoriness allow spikes from this step on */
        for (size_t q = 0; q < s.blocked.size();) {
            const int32_t jj = s.blocked[q];
            if (t >= s.tblock[jj]) {
                s.thr[jj] = s.thr_open[jj];
                s.blocked[q] = s.blocked.back();
                s.blocked.pop_back();
            } else {
                ++q;
            }
        }
        s.v_old.resize(s.xs.size());
        for (size_t e = 0; e < s.xs.size(); ++e) s.v_old[e] = v[s.xs[e].first];
        bool exc_any = pending ? exc_step<true>(len, v, ge, s.G, pending, s.thr.data(), m)
                               : exc_step<false>(len, v, ge, s.G, nullptr, s.thr.data(), m);
        /* the neurons whose gi is not G: the Euler step's gi term corrected */
        for (size_t e = 0; e < s.xs.size();) {
            const int32_t jj = s.xs[e].first;
            const float x = s.xs[e].second;
            v[jj] += m.exc_cv * x * (m.exc_e_inh - s.v_old[e]);
            exc_any = exc_any || v[jj] > s.thr[jj];
            const float xn = x * m.exc_keep_gi;
            if (fabsf(xn) < 1e-30f) {  /* decayed away: gi is G again */
                s.x_of[jj] = -1;
                s.xs[e] = s.xs.back();
                s.v_old[e] = s.v_old.back();
                s.xs.pop_back();
                s.v_old.pop_back();
                if (e < s.xs.size()) s.x_of[s.xs[e].first] = (int32_t)e;
                continue;
            }
            s.xs[e].second = xn;
            ++e;
        }
        s.G *= m.exc_keep_gi;
        /* refractory neurons keep their potential (the reset value) */
        for (size_t q = 0; q < s.held.size();) {
            const int32_t jj = s.held[q];
            if ((int64_t)t - tpost[jj] < m.exc_ref_steps) {
                v[jj] = m.exc_v_reset;
                ++q;
            } else {
                s.held[q] = s.held.back();
                s.held.pop_back();
            }
        }
        s.inh_spk.clear();
        for (size_t q = 0; q < s.inh_active.size();) {
            const int32_t jj = s.inh_active[q];
            const int64_t j = lo + jj;
            const float vv = inh.v[j], g = inh.ge[j];
            const bool refractory = (t - inh.tpost[j]) < m.inh_ref_steps;
            const float vn = refractory ? vv
                                        : vv + m.inh_cv * ((m.inh_v_rest - vv) - g * vv +
                                                           inh.gi[j] * (m.inh_e_inh - vv));
            float gn = g * m.inh_keep_ge;
            if (fabsf(gn) < 1e-30f) gn = 0.0f;
            inh.v[j] = vn;
            inh.ge[j] = gn;
            inh.gi[j] *= m.inh_keep_gi;
            if (!refractory && vn > m.inh_v_thresh) {
                s.inh_spk.push_back((int32_t)j);
            } else if (!refractory && gn == 0.0f && vn == vv && inh.gi[j] == 0.0f) {
                /* a fixed point of the update: skipped until the partner spikes */
                s.inh_is_active[jj] = 0;
                s.inh_active[q] = s.inh_active.back();
                s.inh_active.pop_back();
                continue;
            }
            ++q;
        }
        s.exc_spk.clear();
        if (exc_any) {
            for (int64_t jj = 0; jj < len; ++jj) {
                if (v[jj] > s.thr[jj]) {
                    s.exc_spk.push_back(Spike{(int32_t)(lo + jj), tpost[jj]});
                    tpost[jj] = t;
                }
            }
        }
        if (step < m.present_steps) {
            for (const Spike &sp : s.exc_spk) counts[sp.j] += 1;
            total += (int64_t)s.exc_spk.size();
        }
        /* exc -> inh (one to one): the partner joins the simulated ones */
        for (const Spike &sp : s.exc_spk) {
            inh.ge[sp.j] += m.w_exc_inh;
            const int64_t jj = sp.j - lo;
            if (!s.inh_is_active[jj]) {
                s.inh_is_active[jj] = 1;
                s.inh_active.push_back((int32_t)jj);
            }
        }
        /* inh -> exc (all but the partner) */
        int64_t inh_spikes = (int64_t)s.inh_spk.size();
        if (T > 1) {
            int64_t *slot = sh.inh_counts + (step & 1) * T;
            slot[tid] = inh_spikes;
#pragma omp barrier
            inh_spikes = 0;
            for (int64_t u = 0; u < T; ++u) inh_spikes += slot[u];
        }
        if (inh_spikes) {
            s.G += m.w_inh_exc * (float)inh_spikes;
            for (int32_t j : s.inh_spk) s.add_x((int32_t)(j - lo), -m.w_inh_exc);
        }
        /* input -> exc: this step's input spikes into the ring, then its slot into ge */
        const float c = Plastic ? (float)(m.nu_pre * exp(-(double)(step - base) * k1)) : 0.0f;
        if (m.lazy) {
            /* every spike emitted in the last D steps reaches its group of delay step - s */
            const int64_t oldest = step > D ? step - D : 0;
            const int64_t q_lo = r.start[oldest < m.present_steps ? oldest : m.present_steps];
            const int64_t q_hi = r.start[step < m.present_steps ? step + 1 : m.present_steps];
            for (int64_t q = q_lo; q < q_hi; ++q) {
                const int64_t d = step - r.step[q];
                const int64_t g = (int64_t)r.spikes[q] * (D + 1) + d;
                const int32_t *split = m.grp_split + g * T + tid;
                const int64_t e_lo = split[0], e_hi = split[T];
                if (d < D) {
                    /* next step this spike reaches the next group, [e_hi, split[2T]):
                     * every cache line of it, from memory while this step goes on */
                    const float *wn = Plastic ? (const float *)pl.w : w_frozen;
                    for (int64_t e = e_hi; e < split[2 * T]; e += 16) {
                        __builtin_prefetch(m.grp_post + e);
                        __builtin_prefetch(wn + e);
                    }
                }
                if (Plastic)
                    arrive_plastic(m.grp_post, pl.w, exc.ge, a1, c, m.w_max, e_lo, e_hi);
                else
                    arrive_frozen(m.grp_post, w_frozen, exc.ge, e_lo, e_hi);
            }
        } else if (step < m.present_steps) {
            for (int64_t q = r.start[step]; q < r.start[step + 1]; ++q) {
                const int64_t i = r.spikes[q];
                if (q + 1 < r.start[step + 1]) {
                    const int64_t next = (int64_t)r.spikes[q + 1] * n + lo;
                    __builtin_prefetch(delay + next);
                    __builtin_prefetch(Plastic ? (const float *)pl.w + next : w_frozen + next);
                }
                emit_row<Plastic>(w_frozen + i * n, Plastic ? pl.w + i * n : nullptr,
                                  delay + i * n, sh.ring, n, sh.rmask, t, lo, hi,
                                  Plastic ? sh.snap + (q & sh.smask) * n : nullptr, a1, sh.f1, c,
                                  m.w_max);
            }
        }
        if (!m.lazy) pending = sh.ring + (int64_t)(t & sh.rmask) * n + lo;
        if (Plastic) {
            /* the per-input cursors: spikes of this step have been emitted */
            if (step < m.present_steps)
                for (int64_t q = r.start[step]; q < r.start[step + 1]; ++q)
                    s.cursor[r.spikes[q]] += 1;
            /* on_post: every input synapse of each spiking exc neuron */
            for (const Spike &sp : s.exc_spk) {
                const int64_t j = sp.j;
                const float post2b =
                    sp.prev <= NEVER ? 0.0f : (float)exp(-(double)(t - sp.prev) * k2);
                pl.post2before[j] = post2b;
                const float gain = m.nu_post * post2b;
                for (int64_t i = 0; i < n_in; ++i) {
                    const int32_t d = delay[i * n + j];
                    /* walking back over input i's spikes: those still in flight
                     * (s > t - d), then the last one that arrived (pre) */
                    const int32_t first = r.in_start[i];
                    int32_t k = first + s.cursor[i] - 1;
                    const int32_t newest_in_flight = k;
                    while (k >= first && r.in_steps[k] + d > t) --k;
                    int32_t arrival = NEVER;
                    if (k >= first)
                        arrival = r.in_steps[k] + d;
                    else if (pl.in_last[i] > NEVER)
                        arrival = pl.in_last[i] + d;
                    const float pre = arrival == NEVER ? 0.0f : pre_trace(t - arrival, kp, pre_table);
                    float &wk = pl.w[m.lazy ? (int64_t)m.post_pos[j * n_in + i] : i * n + j];
                    if (k == newest_in_flight || m.lazy) {
                        /* nothing in flight, or (lazy) nothing applied before its arrival */
                        wk = clampf(wk + gain * pre, 0.0f, m.w_max);
                        continue;
                    }
                    /* repair: from the weight before the oldest in-flight arrival */
                    float w = sh.snap[(r.in_serial[k + 1] & sh.smask) * n + j];
                    w = clampf(w + gain * pre, 0.0f, m.w_max);
                    for (int32_t f = k + 1; f <= newest_in_flight; ++f) {
                        const int64_t q = r.in_serial[f];
                        const int32_t at = r.in_steps[f] + d;
                        float &old = sh.snap[(q & sh.smask) * n + j];
                        sh.ring[(int64_t)(at & sh.rmask) * n + j] += w - old;
                        old = w;
                        const float post1 = (float)exp(-(double)(at - t) * k1);
                        w = clampf(w - m.nu_pre * post1, 0.0f, m.w_max);
                    }
                    wk = w;
                }
                a1[j] = (float)exp((double)(t - base) * k1);
            }
        }
        /* resets */
        for (const Spike &sp : s.exc_spk) {
            exc.v[sp.j] = m.exc_v_reset;
            exc.treset[sp.j] = t;
            s.tblock[sp.j - lo] = block_until(sp.j - lo);
            s.held.push_back((int32_t)(sp.j - lo));
            s.blocked.push_back((int32_t)(sp.j - lo));
            s.thr[sp.j - lo] = INFINITY;
            if (Plastic) {
                pl.theta[sp.j] += m.theta_plus;
                s.thr_open[sp.j - lo] = (float)((double)m.exc_v_thresh + pl.theta[sp.j]);
            }
        }
        for (int32_t j : s.inh_spk) {
            inh.v[j] = m.inh_v_reset;
            inh.tpost[j] = t;
        }
    }
    if (pending) deliver(ge, pending, len);
    for (int64_t jj = 0; jj < len; ++jj) gi[jj] = s.G;
    for (const auto &e : s.xs) gi[e.first] = s.G + e.second;
    return total;
}

template <bool Plastic>
int64_t present(const FastModel &m, FastNeurons exc, FastNeurons inh, FastPlastic pl,
                const float *w_frozen, const float *theta_frozen, float *a1, const Raster &r,
                int32_t *counts, const std::vector<float> &pre_table, std::vector<float> &ring,
                std::vector<float> &snap) {
    const int64_t T = m.n_threads > 1 ? m.n_threads : 1;
    std::vector<int64_t> inh_counts(2 * T, 0);
    std::vector<uint8_t> quiet(2 * T, 0);
    int64_t R = 1, S = 1;
    if (!m.lazy) {
        while (R <= m.max_delay) R <<= 1;
        ring.assign(R * m.n, 0.0f);
        while (Plastic && S < r.window_max) S <<= 1;
        if (Plastic && (int64_t)snap.size() < S * m.n) snap.resize(S * m.n);
    }
    std::vector<float> f1(m.max_delay + 1);
    for (int64_t d = 0; d <= m.max_delay; ++d) f1[d] = (float)exp(-(double)d * m.dt / m.tau_post1);
    Shared sh{inh_counts.data(), quiet.data(), ring.data(), (int32_t)(R - 1), snap.data(), S - 1,
              f1.data()};
    if (T == 1)
        return present_share<Plastic>(m, exc, inh, pl, w_frozen, theta_frozen, a1, r, counts, sh,
                                      0, 1, pre_table);
    int64_t total = 0;
#pragma omp parallel num_threads(T) reduction(+ : total)
    {
#ifdef _OPENMP
        const int64_t tid = omp_get_thread_num();
#else
        const int64_t tid = 0;
#endif
        total += present_share<Plastic>(m, exc, inh, pl, w_frozen, theta_frozen, a1, r, counts,
                                        sh, tid, T, pre_table);
    }
    return total;
}

/* exp(-k dt / tau_pre) for every k where it is above float's smallest
 * normal; kept per thread for the last dt / tau_pre asked for. */
const std::vector<float> &pre_table(const FastModel &m) {
    static thread_local double kept = -1.0;
    static thread_local std::vector<float> table;
    const double kp = m.dt / m.tau_pre;
    if (kp != kept) {
        const int64_t size = std::min<int64_t>(1 << 20, (int64_t)(87.0 / kp) + 1);
        table.resize(size);
        for (int64_t k = 0; k < size; ++k) table[k] = (float)exp(-(double)k * kp);
        kept = kp;
    }
    return table;
}

}  // namespace

extern "C" {

/* Version of this interface; the Python side refuses a library of another. */
int64_t stdp_fast_abi(void) { return 1; }

/* The instruction set the arrival loops were compiled for. */
const char *stdp_fast_isa(void) { return STDP_FAST_ISA; }

/* One plastic presentation: the state carried in the arrays. Afterwards every
 * time is shifted back by m->steps (the next presentation starts at t = 0)
 * and theta has decayed by exp(-steps dt / tau_theta). Returns the exc spikes
 * inside the presentation window. */
int64_t stdp_fast_train_present(const FastModel *m, FastNeurons exc, FastNeurons inh,
                                FastPlastic pl, float *a1, const double *rates, int64_t seed,
                                int64_t stream, int64_t sample, int64_t attempt,
                                int32_t *counts) {
    static thread_local Raster r;
    input_raster(*m, rates, seed, stream, sample, attempt, r, true);
    const std::vector<float> &table = pre_table(*m);
    static thread_local std::vector<float> ring, snap;
    const int64_t total =
        present<true>(*m, exc, inh, pl, nullptr, nullptr, a1, r, counts, table, ring, snap);
    const int64_t n = m->n, shift = m->steps;
    auto shifted = [shift](int32_t x) {
        return x <= NEVER ? NEVER : (int32_t)std::max<int64_t>(NEVER, (int64_t)x - shift);
    };
    for (int64_t j = 0; j < n; ++j) {
        exc.tpost[j] = shifted(exc.tpost[j]);
        inh.tpost[j] = shifted(inh.tpost[j]);
        exc.treset[j] = shifted(exc.treset[j]);
        inh.treset[j] = shifted(inh.treset[j]);
    }
    for (int64_t i = 0; i < m->n_in; ++i) {
        const int32_t s0 = r.in_start[i], s1 = r.in_start[i + 1];
        if (s1 > s0) pl.in_last[i] = r.in_steps[s1 - 1];
        pl.in_last[i] = shifted(pl.in_last[i]);
    }
    const double decay = exp(-(double)m->steps * m->dt / m->tau_theta);
    for (int64_t j = 0; j < n; ++j) pl.theta[j] *= decay;
    return total;
}

/* Rescale each exc neuron's input weights (a column of the pixel-major
 * weights) to sum to `total`; columns summing to zero stay zero. Sums in
 * double; `scratch` holds n doubles. */
void stdp_fast_normalize(const FastModel *m, float *w, double total, double *scratch) {
    const int64_t n = m->n, n_in = m->n_in;
    for (int64_t j = 0; j < n; ++j) scratch[j] = 0.0;
    const int64_t T = m->n_threads > 1 ? m->n_threads : 1;
    const int64_t n_entries = n_in * n;
    if (m->lazy) {
        for (int64_t e = 0; e < n_entries; ++e) scratch[m->grp_post[e]] += (double)w[e];
    } else {
        for (int64_t i = 0; i < n_in; ++i) {
            const float *row = w + i * n;
            for (int64_t j = 0; j < n; ++j) scratch[j] += (double)row[j];
        }
    }
    std::vector<float> factor(n);
    for (int64_t j = 0; j < n; ++j) factor[j] = scratch[j] > 0.0 ? (float)(total / scratch[j]) : 0.0f;
    const float *f = factor.data();
    if (m->lazy) {
#pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
        for (int64_t e = 0; e < n_entries; ++e) w[e] *= f[m->grp_post[e]];
    } else {
#pragma omp parallel for num_threads(T) schedule(static) if (T > 1)
        for (int64_t i = 0; i < n_in; ++i) {
            float *row = w + i * n;
            for (int64_t j = 0; j < n; ++j) row[j] *= f[j];
        }
    }
}

/* Sum and sum of squares of the weights (double accumulators). */
FastWeightStats stdp_fast_weight_stats(const FastModel *m, const float *w) {
    const int64_t count = m->n_in * m->n;
    double s = 0.0, s2 = 0.0;
#pragma omp simd reduction(+ : s, s2)
    for (int64_t e = 0; e < count; ++e) {
        const double x = (double)w[e];
        s += x;
        s2 += x * x;
    }
    return FastWeightStats{s, s2};
}

/* Frozen samples, each from the per-sample reset state, presentation window
 * only: `w` pixel-major, `theta` (V, float32), `rates` (n_samples, n_in),
 * counts (n_samples, n). Scratch arrays in exc / inh hold n values each. */
int64_t stdp_fast_frozen(const FastModel *m, FastNeurons exc, FastNeurons inh, const float *w,
                         const float *theta, int64_t n_samples, const double *rates,
                         const int64_t *sample_ids, const int64_t *attempts, int64_t seed,
                         int64_t stream, int32_t reset_timer, int32_t *counts) {
    static thread_local Raster r;
    const int64_t n = m->n;
    FastModel fm = *m;
    fm.steps = m->present_steps;
    const std::vector<float> table;
    static thread_local std::vector<float> ring, snap;
    int64_t total = 0;
    FastPlastic none{nullptr, nullptr, nullptr, nullptr};
    for (int64_t q = 0; q < n_samples; ++q) {
        for (int64_t j = 0; j < n; ++j) {
            exc.v[j] = m->exc_v_rest;
            inh.v[j] = m->inh_v_rest;
            exc.ge[j] = exc.gi[j] = inh.ge[j] = inh.gi[j] = 0.0f;
            exc.treset[j] = inh.treset[j] = -reset_timer;
            exc.tpost[j] = inh.tpost[j] = NEVER;
        }
        input_raster(fm, rates + q * m->n_in, seed, stream, sample_ids[q], attempts[q], r, false);
        total += present<false>(fm, exc, inh, none, w, theta, nullptr, r, counts + q * n, table,
                                ring, snap);
    }
    return total;
}

}  // extern "C"
