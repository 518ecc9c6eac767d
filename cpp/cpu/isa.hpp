// RANKWISE_ISA_CLONES: compile a function twice on x86-64 Linux (AVX2/FMA and the baseline)
// and let the dynamic linker pick one at load time (GCC/Clang target_clones).  Wheels are
// built for the baseline ISA; the few loops whose speed is the whole cost of a kernel get
// the AVX2 copy this way.  Function templates cannot be cloned: wrap a template body in one
// non-template function per type.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define RANKWISE_ISA_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RANKWISE_ISA_CLONES
#endif
