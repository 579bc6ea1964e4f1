// Per-CPU-level compilation of hot loops: the installed module targets a portable baseline and picks the
// x86-64-v4 / v3 clone of each GM_CLONES function at load time (where the compiler supports target_clones).
#pragma once

#if defined(GM_HAVE_TARGET_CLONES)
#define GM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GM_CLONES
#endif
#define GM_INLINE inline __attribute__((always_inline))
