/* ns_cpu.h: the one CPU-specific hint the spinning code needs.
 *
 * A thread that busy-waits should tell the CPU so: on x86 the PAUSE instruction stops the
 * core from flooding the memory system with speculative loads and gives the cycles to its
 * hyper-thread sibling; arm64 has YIELD for the same purpose. Elsewhere we do nothing.
 */
#ifndef NS_CPU_H
#define NS_CPU_H

static inline void ns_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* NS_CPU_H */
