// Function multiversioning for seqkit's vectorized CPU loops: SEQKIT_CLONES compiles a
// function for AVX-512, AVX2+FMA and baseline x86-64, picked at load time (GCC
// target_clones); SEQKIT_INLINE forces the inlining of the shared template bodies.
#pragma once

// ISA levels, not CPU models ("arch=haswell" would never match an AMD CPU).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 12
#define SEQKIT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SEQKIT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SEQKIT_CLONES
#endif
#if defined(__GNUC__)
#define SEQKIT_INLINE inline __attribute__((always_inline))
#else
#define SEQKIT_INLINE inline
#endif
