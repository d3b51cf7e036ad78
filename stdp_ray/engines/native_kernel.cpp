/* The native engine's kernel: the Diehl & Cook (2015) network, clock-driven,
 * mirroring the code Brian2 2.9 generates for it (stdp_ray.engines.brian).
 *
 * Bit-identity with Brian2 rests on three rules, each followed below:
 *  1. Within a step, the same order of operations as Brian2's schedule:
 *     exc and inh state updates, exc / inh / input thresholds, exc->inh and
 *     inh->exc (no delay), input->exc arrivals (on_pre), input->exc on_post,
 *     exc and inh resets; then the clock ticks (t = step * dt).
 *  2. Every stored value computed by the same floating-point expression, in
 *     the same order, with the same constants (folded by Brian2 / sympy; the
 *     Python side computes them and documents each), and the same scalar libm
 *     `exp`. Build without -ffast-math and with -ffp-contract=off.
 *  3. The exc conductance `ge` of each neuron sums its arrivals in the order of
 *     Brian2's spike queue: for delay d from the largest down to 0, the input
 *     spikes emitted d steps ago in ascending neuron order, and within one
 *     input neuron its synapses of that delay in ascending target order. The
 *     Python side passes those groups as a CSR table, so no queue is needed.
 *
 * A value Brian2 computes and overwrites before it is read (the `pre` trace
 * decayed on a presynaptic arrival, then set to 1) is not computed at all.
 * Multiplying a trace that is exactly 0 by exp(...) <= 1 gives 0, and exp of
 * an argument below -746 is exactly 0 in IEEE double: both skip the call.
 *
 * The functions take plain pointers (ctypes); the caller owns every array.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "input_hash.h"

namespace {

/* Below this argument exp() underflows to exactly +0 (exp(-745.2) is already 0). */
const double EXP_ZERO_BELOW = -746.0;

}  // namespace

extern "C" {

/* The folded constants of one layer's Euler step and its spike rules. */
typedef struct {
    double c_ge;       /* (-dt) / tau_ge */
    double c_gi;       /* (-dt) / tau_gi */
    double c_v;        /* dt / msecond */
    double a;          /* 0.0 - (-v_rest / tau_mem [mV/ms]) * mvolt */
    double k;          /* 1 / tau_mem [1/ms] */
    double e_inh;      /* inhibitory reversal potential (V) */
    double v_reset;    /* reset potential (V) */
    double v_thresh;   /* threshold (inh) or its offset added to theta (exc), V */
    int64_t ref_steps; /* _timestep(refractory, dt) */
} Layer;

typedef struct {
    int64_t n_in;          /* input neurons */
    int64_t n;             /* exc neurons (as many inh) */
    int64_t present_steps; /* steps with input */
    int64_t steps;         /* steps simulated per presentation */
    int64_t max_delay;     /* largest input->exc delay in steps */
    double dt;             /* seconds */
    Layer exc;
    Layer inh;
    double c_theta;        /* (-dt) / tau_theta (training) */
    double timer_min;      /* s */
    double theta_plus;     /* V (training) */
    double w_exc_inh;
    double w_inh_exc;
    double inv_tau_pre;    /* 1.0 / tau_pre (1/s) */
    double inv_tau_post1;
    double inv_tau_post2;
    double nu_pre;
    double nu_post;
    double w_max;
    /* Input->exc synapses grouped by (input neuron, delay): group g = i*(max_delay+1)+d
     * holds the synapses i*n + j of delay d, j ascending, in consecutive
     * entries e of grp_syn (synapse index) and grp_post (j); see grp_split for
     * where each group starts. Every synapse array the kernel gets (weights,
     * traces) is in this group order: position e is synapse grp_syn[e], so the
     * arrivals of one group are contiguous in memory. */
    const int32_t *grp_syn;
    const int32_t *grp_post;
    /* Row j (n_in entries, ascending): the group positions of neuron j's input synapses. */
    const int32_t *post_pos;
    /* Threads, each owning the neurons [tid*n/T, (tid+1)*n/T), and each group's
     * entries split between them: thread tid's entries of group g start at
     * grp_split[g*T+tid] and end where the next thread's (or, for the last
     * thread, the next group's) start: grp_split[g*T+tid+1]. A sentinel row
     * (n_syn) ends the table. With one thread it is just the groups' starts. */
    int64_t n_threads;
    const int32_t *grp_split;
} Model;

typedef struct {
    double *v, *ge, *gi, *timer, *lastspike;
    uint8_t *not_refractory;
} Neurons;

/* The state of one plastic input synapse, as one record: an arrival reads and
 * writes all of it, so a record is one memory access instead of five. */
typedef struct {
    double w, lastupdate, post1, post2, pre;
} SynapseRecord;

typedef struct {
    SynapseRecord *rec;     /* plastic: the records, in group order */
    double *post2before;    /* plastic: written on post spikes only */
    const double *w;        /* frozen: the weights, in group order */
} Synapses;

/* What a plastic presentation exchanges with its caller besides the state. */
typedef struct {
    double *weights;        /* in/out: the weights, pixel-major (synapse i*n + j) */
    double time_shift;      /* subtracted from every lastupdate afterwards (s) */
} PlasticIO;

}  // extern "C"

namespace {

inline int64_t brian_timestep(double t, double dt) { return (int64_t)((t + 1e-3 * dt) / dt); }

inline double clip(double value, double a_min, double a_max) {
    if (value < a_min) return a_min;
    if (value > a_max) return a_max;
    return value;
}

/* A trace decayed to time t, as Brian2's event-driven code computes it:
 * trace * exp((1/tau) * (-(t - lastupdate))), for many synapses at one t.
 * exp is a pure function, so its
 * value for an argument seen last time is reused (bit for bit the same). The
 * synapses of one delay group usually share their lastupdate (the previous
 * spike of their input neuron), so most of them need no exp at all. */
struct DecayCache {
    double inv_tau, arg = 1.0, value = 0.0;
    explicit DecayCache(double inv_tau_) : inv_tau(inv_tau_) {}
    /* exp(inv_tau * elapsed_neg), exactly +0 below EXP_ZERO_BELOW. */
    inline double factor(double elapsed_neg) {
        const double a = inv_tau * elapsed_neg;
        if (a < EXP_ZERO_BELOW) return 0.0;
        if (a != arg) {
            arg = a;
            value = exp(a);
        }
        return value;
    }
    inline double operator()(double trace, double elapsed_neg) {
        /* 0 * exp(...) is 0 (the factor is finite): no exp needed */
        if (trace == 0.0) return trace * 1.0;
        return trace * factor(elapsed_neg);
    }
};

/* Refractoriness, as Brian2's `not_refractory = _timestep(t - lastspike, dt) >= ref_steps`.
 * t - lastspike never decreases between spikes, so a neuron that is not
 * refractory stays so until it spikes: only the neurons in `pending` (spiked
 * recently, or every neuron at the start of a presentation, `all`) need the
 * division. On return `pending` lists exactly the refractory neurons, and
 * `held` their potentials (clamped: the Euler step must not change them). */
inline void update_refractory(const Layer &L, double dt, double t, int64_t n, Neurons &g,
                              std::vector<int32_t> &pending, std::vector<double> &held,
                              bool all) {
    if (all) {
        pending.resize(n);
        for (int64_t j = 0; j < n; ++j) pending[j] = (int32_t)j;
    }
    size_t kept = 0;
    held.resize(pending.size());
    for (size_t q = 0; q < pending.size(); ++q) {
        const int32_t j = pending[q];
        const char nr = brian_timestep(t - g.lastspike[j], dt) >= L.ref_steps;
        g.not_refractory[j] = nr;
        if (!nr) {
            held[kept] = g.v[j];
            pending[kept++] = j;
        }
    }
    pending.resize(kept);
    held.resize(kept);
}

/* One Euler step of a layer, as Brian2's state updater, and whether any
 * neuron may have crossed its threshold (exc: v > v_thresh + theta and
 * timer > timer_min; inh: v > v_thresh): collect_spikes then finds which.
 * Every neuron is integrated here, branch-free so that the loop vectorises
 * (plain restrict pointers: GCC 12 vectorises this form only); the
 * refractory ones get their clamped potential back in update_layer. Nothing
 * per neuron is stored beyond the state: the loop is bound by the cache's
 * bandwidth. `theta` decays when DecayTheta (training). */
template <bool Exc, bool DecayTheta>
__attribute__((noinline)) bool euler_threshold(
        int64_t n, double *__restrict v_, double *__restrict ge_, double *__restrict gi_,
        double *__restrict timer_, double *__restrict th_, double dt,
        double c_ge, double c_gi, double c_v, double a, double k, double mk, double e_inh,
        double v_thresh, double c_theta, double timer_min) {
    int64_t any = 0;
    for (int64_t j = 0; j < n; ++j) {
        const double ge = ge_[j], gi = gi_[j], v = v_[j];
        const double v_new = (c_v * ((a + ((mk * (ge * v)) + (k * (gi * (e_inh - v))))) -
                                     (k * v))) + v;
        const double timer_new = dt + timer_[j];
        v_[j] = v_new;
        ge_[j] = (c_ge * ge) + ge;
        gi_[j] = (c_gi * gi) + gi;
        timer_[j] = timer_new;
        int64_t f;
        if (Exc) {
            double theta = th_[j];
            if (DecayTheta) {
                theta = (c_theta * theta) + theta;
                th_[j] = theta;
            }
            f = (int64_t)(v_new > (v_thresh + theta)) & (int64_t)(timer_new > timer_min);
        } else {
            f = (int64_t)(v_new > v_thresh);
        }
        any |= f;
    }
    return any != 0;
}

template <bool Exc, bool DecayTheta>
inline bool update_layer(const Layer &L, double dt, int64_t n, Neurons &g, double *theta,
                         double c_theta, double timer_min, const std::vector<int32_t> &pending,
                         const std::vector<double> &held) {
    const bool any = euler_threshold<Exc, DecayTheta>(
        n, g.v, g.ge, g.gi, g.timer, theta, dt, L.c_ge, L.c_gi, L.c_v, L.a, L.k, -L.k,
        L.e_inh, L.v_thresh, c_theta, timer_min);
    for (size_t q = 0; q < pending.size(); ++q) g.v[pending[q]] = held[q];
    return any;
}

/* The input spikes of one presentation, shared read-only by every thread. */
struct Raster {
    std::vector<int32_t> spikes;   /* input spikes, step-major, neurons ascending */
    std::vector<int32_t> step;     /* the step of each */
    std::vector<int64_t> start;    /* CSR offsets per step */
    std::vector<uint64_t> keys;    /* hash key per active input neuron */
    std::vector<int32_t> active;   /* input neurons with rate > 0 */
    std::vector<double> p;         /* dt * rate of the active ones */
};

/* Input spikes of one presentation: neuron i spikes in step s when
 * rate_i > 0 and input_uniform(seed, stream, sample, attempt, i, s) < dt * rate_i. */
void input_raster(const Model &m, const double *rates, int64_t seed, int64_t stream,
                  int64_t sample, int64_t attempt, Raster &r) {
    r.active.clear();
    r.keys.clear();
    r.p.clear();
    for (int64_t i = 0; i < m.n_in; ++i) {
        if (rates[i] > 0.0) {
            r.active.push_back((int32_t)i);
            r.keys.push_back(input_key(seed, stream, sample, attempt, i));
            r.p.push_back(m.dt * rates[i]);
        }
    }
    r.spikes.clear();
    r.step.clear();
    r.start.assign(m.present_steps + 1, 0);
    const size_t n_active = r.active.size();
    for (int64_t step = 0; step < m.present_steps; ++step) {
        r.start[step] = (int64_t)r.spikes.size();
        for (size_t a = 0; a < n_active; ++a)
            if (input_uniform_keyed(r.keys[a], step) < r.p[a]) {
                r.spikes.push_back(r.active[a]);
                r.step.push_back((int32_t)step);
            }
    }
    r.start[m.present_steps] = (int64_t)r.spikes.size();
}

/* A layer's arrays from neuron `lo` on (a thread's share, indexed from 0). */
inline Neurons offset(const Neurons &g, int64_t lo) {
    return Neurons{g.v + lo, g.ge + lo, g.gi + lo, g.timer + lo, g.lastspike + lo,
                   g.not_refractory + lo};
}

/* What one thread keeps between steps (indices local to its neurons). */
struct Local {
    std::vector<int32_t> exc_spk, inh_spk;          /* this step's spikes (global j) */
    std::vector<int32_t> exc_pending, inh_pending;  /* refractory neurons */
    std::vector<double> exc_held, inh_held;         /* their clamped potentials */
};

/* This step's spikes of a thread's share, as Brian2's thresholder finds them
 * (refractory neurons cannot spike): exc v > v_thresh + theta and
 * timer > timer_min, inh v > v_thresh. */
template <bool Exc>
inline void collect_spikes(const Layer &L, int64_t lo, int64_t len, Neurons &g,
                           const double *theta, double timer_min, double t,
                           std::vector<int32_t> &spk, std::vector<int32_t> &pending) {
    for (int64_t jj = 0; jj < len; ++jj) {
        if (!g.not_refractory[jj]) continue;
        const bool crossed = Exc ? (g.v[jj] > (L.v_thresh + theta[jj])) && (g.timer[jj] > timer_min)
                                 : g.v[jj] > L.v_thresh;
        if (crossed) {
            spk.push_back((int32_t)(lo + jj));
            pending.push_back((int32_t)jj);
            g.not_refractory[jj] = 0;
            g.lastspike[jj] = t;
        }
    }
}

/* One presentation from t = 0 for the neurons [lo, hi) of thread `tid` of
 * `n_threads`. Every operation on a neuron, its conductances and its input
 * synapses happens in the thread that owns the neuron, in Brian2's order, so
 * the result does not depend on the number of threads. The threads meet once
 * per step: inh->exc needs every inh spike of the step (their number, as every
 * spike adds the same conductance). Plastic: STDP and adaptive theta (`theta`
 * updated); frozen: `theta` read only. Exc spikes inside the presentation
 * window are added to `counts`; returns their number. */
template <bool Plastic>
int64_t present_share(const Model &m, Neurons exc_all, double *theta_all, Neurons inh_all,
                      Synapses syn, const Raster &r, int32_t *counts,
                      int64_t *inh_spikes_per_thread, int64_t tid,
                      int64_t n_threads) {
    const int64_t n = m.n, D = m.max_delay;
    const int64_t lo = tid * n / n_threads, hi = (tid + 1) * n / n_threads, len = hi - lo;
    const double dt = m.dt;
    Neurons exc = offset(exc_all, lo), inh = offset(inh_all, lo);
    double *theta = theta_all + lo;
    Local s;
    DecayCache post1_decay(m.inv_tau_post1), post2_decay(m.inv_tau_post2),
        pre_decay(m.inv_tau_pre);
    int64_t total = 0;
    for (int64_t step = 0; step < m.steps; ++step) {
        const double t = (double)step * dt;
        /* state updates and thresholds */
        update_refractory(m.exc, dt, t, len, exc, s.exc_pending, s.exc_held, step == 0);
        const bool exc_any = update_layer<true, Plastic>(m.exc, dt, len, exc, theta, m.c_theta,
                                                         m.timer_min, s.exc_pending, s.exc_held);
        update_refractory(m.inh, dt, t, len, inh, s.inh_pending, s.inh_held, step == 0);
        const bool inh_any = update_layer<false, false>(m.inh, dt, len, inh, nullptr, 0.0, 0.0,
                                                        s.inh_pending, s.inh_held);
        s.exc_spk.clear();
        if (exc_any)
            collect_spikes<true>(m.exc, lo, len, exc, theta, m.timer_min, t, s.exc_spk,
                                 s.exc_pending);
        s.inh_spk.clear();
        if (inh_any)
            collect_spikes<false>(m.inh, lo, len, inh, nullptr, 0.0, t, s.inh_spk, s.inh_pending);
        if (step < m.present_steps) {
            for (int32_t j : s.exc_spk) counts[j] += 1;
            total += (int64_t)s.exc_spk.size();
        }
        /* exc -> inh (one to one) */
        for (int32_t j : s.exc_spk) inh_all.ge[j] += m.w_exc_inh;
        /* inh -> exc (all but the partner): every inh spike of the step adds
         * w_inh_exc once to each other exc neuron's gi */
        int64_t inh_spikes = (int64_t)s.inh_spk.size();
        if (n_threads > 1) {
            int64_t *slot = inh_spikes_per_thread + (step & 1) * n_threads;
            slot[tid] = inh_spikes;
#pragma omp barrier
            inh_spikes = 0;
            for (int64_t u = 0; u < n_threads; ++u) inh_spikes += slot[u];
        }
        if (inh_spikes) {
            for (int64_t jj = 0; jj < len; ++jj) {
                /* the partner's own spike (this step: lastspike == t) does not count */
                const int64_t adds = inh_spikes - (inh.lastspike[jj] == t && !inh.not_refractory[jj]);
                for (int64_t c = 0; c < adds; ++c) exc.gi[jj] += m.w_inh_exc;
            }
        }
        /* input -> exc arrivals, in the order of Brian2's spike queue: the spikes
         * emitted in the last D steps, oldest step first, neurons ascending (the
         * raster's own order), each reaching its group of delay step - src */
        const int64_t oldest = step > D ? step - D : 0;
        const int64_t q_lo = r.start[oldest < m.present_steps ? oldest : m.present_steps];
        const int64_t q_hi = r.start[step < m.present_steps ? step + 1 : m.present_steps];
        for (int64_t q = q_lo; q < q_hi; ++q) {
            const int64_t d = step - r.step[q];
            const int64_t g = (int64_t)r.spikes[q] * (D + 1) + d;
            const int32_t *split = m.grp_split + g * n_threads + tid;
            const int64_t e_lo = split[0], e_hi = split[1];
            if (d < D) {
                /* Next step this spike reaches group g + 1: fetch it now. */
                const int64_t next = split[n_threads];
                __builtin_prefetch(m.grp_post + next);
                if (Plastic) {
                    __builtin_prefetch(syn.rec + next, 1);
                    __builtin_prefetch((const char *)(syn.rec + next) + 64, 1);
                } else {
                    __builtin_prefetch(syn.w + next);
                }
            }
            if (!Plastic) {
                for (int64_t e = e_lo; e < e_hi; ++e) exc_all.ge[m.grp_post[e]] += syn.w[e];
                continue;
            }
            /* Usually every synapse of the group was last updated by the same
             * event (the previous spike of its input neuron): one factor per
             * trace, computed from the first synapse, then serves them all (a
             * zero trace times any factor stays zero, as in Brian2). Others
             * take their own factors. */
            if (e_lo == e_hi) continue;
            const double lu0 = syn.rec[e_lo].lastupdate;
            const double elapsed0 = -(t - lu0);
            const double f1 = post1_decay.factor(elapsed0);
            const double f2 = post2_decay.factor(elapsed0);
            for (int64_t e = e_lo; e < e_hi; ++e) {
                SynapseRecord &y = syn.rec[e];
                exc_all.ge[m.grp_post[e]] += y.w;
                double post1, post2;
                if (__builtin_expect(y.lastupdate == lu0, 1)) {
                    post1 = y.post1 * f1;
                    post2 = y.post2 * f2;
                } else {
                    const double elapsed_neg = -(t - y.lastupdate);
                    post1 = y.post1 * post1_decay.factor(elapsed_neg);
                    post2 = y.post2 * post2_decay.factor(elapsed_neg);
                }
                y.post2 = post2;
                y.post1 = post1;
                y.pre = 1.0;
                y.w = clip(y.w - (m.nu_pre * post1), 0, m.w_max);
                y.lastupdate = t;
            }
        }
        if (Plastic) {
            /* on_post: every input synapse of each spiking exc neuron */
            for (int32_t j : s.exc_spk) {
                const int32_t *pos = m.post_pos + (int64_t)j * m.n_in;
                for (int64_t i = 0; i < m.n_in; ++i) {
                    const int64_t k = pos[i];
                    SynapseRecord &y = syn.rec[k];
                    const double elapsed_neg = -(t - y.lastupdate);
                    y.post1 = post1_decay(y.post1, elapsed_neg);
                    const double post2 = post2_decay(y.post2, elapsed_neg);
                    const double pre = pre_decay(y.pre, elapsed_neg);
                    y.pre = pre;
                    syn.post2before[k] = post2;
                    y.w = clip(y.w + (m.nu_post * (pre * post2)), 0, m.w_max);
                    y.post1 = 1.0;
                    y.post2 = 1.0;
                    y.lastupdate = t;
                }
            }
        }
        /* resets */
        for (int32_t j : s.exc_spk) {
            exc_all.v[j] = m.exc.v_reset;
            exc_all.timer[j] = 0.0;
            if (Plastic) theta_all[j] += m.theta_plus;
        }
        for (int32_t j : s.inh_spk) inh_all.v[j] = m.inh.v_reset;
    }
    return total;
}

/* One presentation on m.n_threads threads (the caller's alone when 1). */
template <bool Plastic>
int64_t present(const Model &m, Neurons exc, double *theta, Neurons inh, Synapses syn,
                const double *rates, int64_t seed, int64_t stream, int64_t sample,
                int64_t attempt, int32_t *counts, Raster &r,
                std::vector<int64_t> &inh_counts) {
    input_raster(m, rates, seed, stream, sample, attempt, r);
    const int64_t T = m.n_threads > 1 ? m.n_threads : 1;
    inh_counts.assign(2 * T, 0);  /* inh spikes per thread, double-buffered by step */
    int64_t *per_thread = inh_counts.data();
    if (T == 1)
        return present_share<Plastic>(m, exc, theta, inh, syn, r, counts, per_thread, 0, 1);
    int64_t total = 0;
#pragma omp parallel num_threads(T) reduction(+ : total)
    {
#ifdef _OPENMP
        const int64_t tid = omp_get_thread_num();
#else
        const int64_t tid = 0;
#endif
        total += present_share<Plastic>(m, exc, theta, inh, syn, r, counts, per_thread, tid, T);
    }
    return total;
}

}  // namespace

extern "C" {

/* Version of this interface; the Python side refuses a library of another. */
int64_t stdp_native_abi(void) { return 1; }

/* One plastic presentation (training), the state carried in the arrays. */
/* One plastic presentation (training), the state carried in the arrays: the
 * weights are read from io->weights (pixel-major) into the records first and
 * written back after; then every lastupdate is shifted by -io->time_shift, as
 * the next presentation starts again at t = 0 (the caller shifts lastspike). */
int64_t stdp_native_train_present(const Model *m, Neurons exc, double *theta, Neurons inh,
                                  Synapses syn, PlasticIO *io, const double *rates, int64_t seed,
                                  int64_t stream, int64_t sample, int64_t attempt,
                                  int32_t *counts) {
    const int64_t n_syn = m->n_in * m->n;
    SynapseRecord *__restrict rec = syn.rec;
    const int32_t *__restrict where = m->grp_syn;
    double *__restrict w = io->weights;
    const int threads = m->n_threads > 1 ? (int)m->n_threads : 1;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t e = 0; e < n_syn; ++e) rec[e].w = w[where[e]];
    Raster r;
    std::vector<int64_t> inh_counts;
    const int64_t total = present<true>(*m, exc, theta, inh, syn, rates, seed, stream, sample,
                                        attempt, counts, r, inh_counts);
    const double shift = io->time_shift;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t e = 0; e < n_syn; ++e) {
        w[where[e]] = rec[e].w;
        rec[e].lastupdate = rec[e].lastupdate - shift;
    }
    return total;
}

/* Frozen samples, each from the per-sample reset state: `w` holds the input
 * weights in group order; `rates` is
 * (n_samples, n_in), counts (n_samples, n). `reset_*` are the slot-start values
 * (v of each layer, timer, lastspike). Scratch arrays: `exc` and `inh` hold n
 * values each. */
int64_t stdp_native_frozen(const Model *m, Neurons exc, const double *theta, Neurons inh,
                           const double *w, int64_t n_samples, const double *rates,
                           const int64_t *sample_ids, const int64_t *attempts, int64_t seed,
                           int64_t stream, double reset_v_exc, double reset_v_inh,
                           double reset_timer, double reset_lastspike, int32_t *counts) {
    Raster r;
    std::vector<int64_t> inh_counts;
    Synapses syn = {nullptr, nullptr, w};
    const int64_t n = m->n;
    int64_t total = 0;
    for (int64_t q = 0; q < n_samples; ++q) {
        for (int64_t j = 0; j < n; ++j) {
            exc.v[j] = reset_v_exc;
            inh.v[j] = reset_v_inh;
            exc.ge[j] = exc.gi[j] = inh.ge[j] = inh.gi[j] = 0.0;
            exc.timer[j] = inh.timer[j] = reset_timer;
            exc.lastspike[j] = inh.lastspike[j] = reset_lastspike;
            exc.not_refractory[j] = inh.not_refractory[j] = 1;
        }
        total += present<false>(*m, exc, const_cast<double *>(theta), inh, syn,
                                rates + q * m->n_in, seed, stream, sample_ids[q], attempts[q],
                                counts + q * n, r, inh_counts);
    }
    return total;
}

}  // extern "C"
