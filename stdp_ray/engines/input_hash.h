/* The input hash of stdp_ray.model.input_uniform (its numpy reference), in C++.
 *
 * Input neuron `neuron` spikes in step `step` of a presentation when
 * input_uniform(seed, stream, sample, attempt, neuron, step) < rate * dt.
 * The one C++ copy of the hash: stdp_ray/engines/brian.py reads this file as
 * the support code of Brian2's `input_uniform` Function (C++ standalone), and
 * native engines #include it. The Cython twin lives in brian.py; all three
 * must stay bit-identical to the numpy reference.
 */
#ifndef STDP_RAY_INPUT_HASH_H
#define STDP_RAY_INPUT_HASH_H

#include <stdint.h>

static inline uint64_t _stdp_splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/* The hash state after everything but the step: one per input neuron and
 * presentation, so that a native engine hashes only the step in its inner loop. */
static inline uint64_t input_key(int64_t seed, int64_t stream, int64_t sample,
                                 int64_t attempt, int64_t neuron) {
    uint64_t h = _stdp_splitmix64((((uint64_t)seed) << 8) | (uint64_t)stream);
    h = _stdp_splitmix64(h ^ (uint64_t)sample);
    return _stdp_splitmix64(h ^ ((((uint64_t)attempt) << 32) | (uint64_t)neuron));
}
static inline double input_uniform_keyed(uint64_t key, int64_t step) {
    const uint64_t h = _stdp_splitmix64(key ^ (uint64_t)step);
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}
static inline double input_uniform(int64_t seed, int64_t stream, int64_t sample,
                                   int64_t attempt, int64_t neuron, int64_t step) {
    return input_uniform_keyed(input_key(seed, stream, sample, attempt, neuron), step);
}

#endif  /* STDP_RAY_INPUT_HASH_H */
