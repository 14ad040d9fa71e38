/* LD_PRELOAD library that makes a program see an older x86-64 CPU through CPUID, at native
 * speed: with QSIM_CPUID_MASK=avx2 the program is told there is no AVX-512 and no VNNI of any
 * kind (AMD Zen 2/3, Intel before Ice Lake); with QSIM_CPUID_MASK=sse41 also no AVX, AVX2 or
 * FMA. qsim's benches use it to time ONNX Runtime's AVX2 and SSE4.1 kernels (MLAS picks its
 * kernels from CPUID) on an AVX-512 machine, where qemu-user reaches the same kernels but only
 * at emulation speed.
 *
 * How: Linux's arch_prctl(ARCH_SET_CPUID, 0) makes every CPUID instruction of the process
 * fault (CPUID faulting, Intel since Ivy Bridge, AMD since Zen 4, and KVM guests); the SIGSEGV
 * handler below runs the real CPUID with faulting briefly off, clears the bits of the features
 * the mask hides, and resumes after the instruction. The setting is per thread and inherited
 * by threads created later, so the constructor (which runs before the program's own code)
 * covers the whole process. XGETBV is not trapped: it still reports the AVX-512 state as
 * enabled, which is harmless because every user of AVX-512 checks the CPUID bit too.
 *
 * A process whose CPU or kernel cannot fault on CPUID is left alone, and the library says so
 * on stderr and exits the process with status 3 (QSIM_CPUID_MASK_LENIENT=1: carry on
 * unmasked), because a benchmark that silently ran the wrong kernels would be worse than none.
 * SIGSEGVs that are not CPUID are passed to the handler installed before this one (or the
 * default action). */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

enum mask_level { MASK_NONE, MASK_AVX2, MASK_SSE41 };

static enum mask_level g_level = MASK_NONE;
/* The SIGSEGV action the program asked for (or had before); ours stays installed. */
static struct sigaction g_previous;

typedef int (*sigaction_fn)(int, const struct sigaction*, struct sigaction*);

static sigaction_fn real_sigaction(void) {
  static sigaction_fn real = NULL;
  if (real == NULL) real = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
  return real;
}

/* Programs reset or take SIGSEGV (Node.js resets every signal to its default at start-up,
 * V8 installs its WebAssembly trap handler): while the mask is active their action is kept
 * as the one to chain to, and ours stays in place. */
int sigaction(int signo, const struct sigaction* action, struct sigaction* old) {
  if (signo != SIGSEGV || g_level == MASK_NONE) return real_sigaction()(signo, action, old);
  if (old != NULL) *old = g_previous;
  if (action != NULL) g_previous = *action;
  return 0;
}

sighandler_t signal(int signo, sighandler_t handler) {
  struct sigaction action, old;
  memset(&action, 0, sizeof action);
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(signo, &action, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

/* A fault that is not CPUID goes to the program's own action. */
static void chain_to_previous(int signo, siginfo_t* info, void* context) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(signo, info, context);
  } else if (g_previous.sa_handler == SIG_DFL || g_previous.sa_handler == SIG_IGN) {
    /* The default action: put it back, so that the instruction faults again and kills. */
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    real_sigaction()(SIGSEGV, &fallback, NULL);
  } else {
    g_previous.sa_handler(signo);
  }
}

static long set_cpuid_enabled(int enabled) {
  return syscall(SYS_arch_prctl, ARCH_SET_CPUID, (unsigned long)enabled);
}

/* Leaf 1 ECX: FMA (12), AVX (28), F16C (29). */
#define L1_ECX_SSE41_HIDES ((1u << 12) | (1u << 28) | (1u << 29))
/* Leaf 7.0 EBX: AVX2 (5); AVX-512 F, DQ, IFMA, PF, ER, CD, BW, VL. */
#define L7_EBX_AVX2 (1u << 5)
#define L7_EBX_AVX512                                                                         \
  ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | \
   (1u << 31))
/* Leaf 7.0 ECX: AVX-512 VBMI (1), VBMI2 (6), VNNI (11), BITALG (12), VPOPCNTDQ (14). */
#define L7_ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
/* Leaf 7.0 EDX: AVX-512 4VNNIW (2), 4FMAPS (3), VP2INTERSECT (8), AMX-BF16 (22), FP16 (23),
 * AMX-TILE (24), AMX-INT8 (25). */
#define L7_EDX_AVX512 \
  ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25))
/* Leaf 7.1 EAX: AVX-VNNI (4), AVX512-BF16 (5), AVX-IFMA (23); EDX: AVX-VNNI-INT8 (4),
 * AVX-NE-CONVERT (5), AVX-VNNI-INT16 (10), AVX10 (19). */
#define L71_EAX_HIDES ((1u << 4) | (1u << 5) | (1u << 23))
#define L71_EDX_HIDES ((1u << 4) | (1u << 5) | (1u << 10) | (1u << 19))

static void mask_leaf(uint32_t leaf, uint32_t subleaf, uint32_t r[4]) {
  if (leaf == 1 && g_level == MASK_SSE41) r[2] &= ~L1_ECX_SSE41_HIDES;
  if (leaf == 7 && subleaf == 0) {
    r[1] &= ~L7_EBX_AVX512;
    if (g_level == MASK_SSE41) r[1] &= ~L7_EBX_AVX2;
    r[2] &= ~L7_ECX_AVX512;
    r[3] &= ~L7_EDX_AVX512;
  }
  if (leaf == 7 && subleaf == 1) {
    r[0] &= ~L71_EAX_HIDES;
    r[3] &= ~L71_EDX_HIDES;
  }
  /* Leaf 0x24 describes AVX10; with AVX10 hidden above, report it empty. */
  if (leaf == 0x24) r[0] = r[1] = r[2] = r[3] = 0;
}

static void on_segv(int signo, siginfo_t* info, void* context) {
  ucontext_t* uc = (ucontext_t*)context;
  greg_t* regs = uc->uc_mcontext.gregs;
  const unsigned char* ip = (const unsigned char*)regs[REG_RIP];
  /* Only a CPUID fault (0F A2 at the faulting address, si_addr 0 as the kernel reports a
   * #GP) is ours. */
  if (info->si_code != SI_KERNEL || ip[0] != 0x0F || ip[1] != 0xA2) {
    chain_to_previous(signo, info, context);
    return;
  }
  const int saved_errno = errno;
  const uint32_t leaf = (uint32_t)regs[REG_RAX], subleaf = (uint32_t)regs[REG_RCX];
  uint32_t r[4];
  set_cpuid_enabled(1);
  __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
  set_cpuid_enabled(0);
  mask_leaf(leaf, subleaf, r);
  regs[REG_RAX] = r[0];
  regs[REG_RBX] = r[1];
  regs[REG_RCX] = r[2];
  regs[REG_RDX] = r[3];
  regs[REG_RIP] += 2;
  errno = saved_errno;
}

__attribute__((constructor)) static void install_cpuid_mask(void) {
  const char* level = getenv("QSIM_CPUID_MASK");
  if (level == NULL || level[0] == '\0') return;
  if (strcmp(level, "avx2") == 0) {
    g_level = MASK_AVX2;
  } else if (strcmp(level, "sse41") == 0) {
    g_level = MASK_SSE41;
  } else {
    fprintf(stderr, "cpuid_mask: QSIM_CPUID_MASK=%s is not a level it knows; use avx2 or sse41\n",
            level);
    _exit(3);
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  if (real_sigaction()(SIGSEGV, &action, &g_previous) != 0 || set_cpuid_enabled(0) != 0) {
    const char* lenient = getenv("QSIM_CPUID_MASK_LENIENT");
    fprintf(stderr,
            "cpuid_mask: this CPU or kernel cannot fault on CPUID (arch_prctl ARCH_SET_CPUID: "
            "%s), so QSIM_CPUID_MASK=%s cannot hide features%s\n",
            strerror(errno), level,
            lenient != NULL && lenient[0] == '1' ? "; carrying on unmasked" : "");
    if (lenient == NULL || lenient[0] != '1') _exit(3);
    real_sigaction()(SIGSEGV, &g_previous, NULL);
    g_level = MASK_NONE;
  }
}
