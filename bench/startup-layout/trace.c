// Runs a program with every thread single-stepped under ptrace until it has been idle (no
// instruction run) for two seconds, then writes each distinct instruction address inside the
// program's own executable mappings, as an offset from its load address, in first-run order.
// Used by layout.sh; see docs/performance.md, "Startup layout".
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS (1u << 22)
static uint64_t slot_key[SLOTS];
static uint8_t slot_used[SLOTS];
static uint64_t first_run[SLOTS];
static size_t distinct;

// Records an offset once, keeping the order offsets were first run in.
static void record(uint64_t offset) {
  uint64_t h = (offset * 0x9E3779B97F4A7C15ull) >> (64 - 22);
  while (slot_used[h]) {
    if (slot_key[h] == offset) return;
    h = (h + 1) & (SLOTS - 1);
  }
  if (distinct == SLOTS - 1) return;
  slot_used[h] = 1;
  slot_key[h] = offset;
  first_run[distinct++] = offset;
}

static uint64_t load_base, exec_start = UINT64_MAX, exec_end;

// The load address and the executable range of `name` in the stopped child's mappings.
static void read_mappings(pid_t pid, const char *name) {
  char path[64], line[4096];
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *maps = fopen(path, "r");
  if (!maps) { perror(path); exit(1); }
  while (fgets(line, sizeof line, maps)) {
    unsigned long long start, end, offset;
    char perms[8], file[4096] = "";
    if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095s", &start, &end, perms, &offset, file) < 4) continue;
    const char *base = strrchr(file, '/');
    if (!base || strcmp(base + 1, name) != 0) continue;
    if (offset == 0 && (load_base == 0 || start < load_base)) load_base = start;
    if (perms[2] == 'x') {
      if (start < exec_start) exec_start = start;
      if (end > exec_end) exec_end = end;
    }
  }
  fclose(maps);
}

static volatile sig_atomic_t alarmed;
static void on_alarm(int sig) { (void)sig; alarmed = 1; }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: trace OUT PROGRAM [ARGS...]\n"); return 2; }
  pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    execv(argv[2], argv + 2);
    _exit(127);
  }
  int status;
  waitpid(child, &status, 0);
  if (!WIFSTOPPED(status)) { fprintf(stderr, "trace: %s did not start\n", argv[2]); return 1; }
  const char *name = strrchr(argv[2], '/');
  read_mappings(child, name ? name + 1 : argv[2]);
  if (exec_end == 0) { fprintf(stderr, "trace: no executable mapping of %s\n", argv[2]); return 1; }

  // Every two seconds the alarm looks for progress; no SA_RESTART, so it also interrupts a
  // waitpid that blocks because every thread sleeps.
  struct sigaction alarm_action = {.sa_handler = on_alarm};
  sigaction(SIGALRM, &alarm_action, NULL);
  ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);
  ptrace(PTRACE_SINGLESTEP, child, 0, 0);
  unsigned long long steps = 0, steps_at_alarm = 0;
  alarm(2);
  for (;;) {
    pid_t thread = waitpid(-1, &status, __WALL);
    if (alarmed) {
      if (steps == steps_at_alarm) break;  // two seconds without an instruction: idle
      alarmed = 0;
      steps_at_alarm = steps;
      alarm(2);
    }
    if (thread < 0) {
      if (errno == ECHILD) break;
      if (errno != EINTR) { perror("waitpid"); return 1; }
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int signal = WSTOPSIG(status), deliver = 0;
    if (signal == SIGTRAP) {
      struct user_regs_struct regs;
      if (ptrace(PTRACE_GETREGS, thread, 0, &regs) == 0) {
        steps++;
        if (regs.rip >= exec_start && regs.rip < exec_end) record(regs.rip - load_base);
      }
    } else if (signal != SIGSTOP) {
      deliver = signal;  // the program's own signals go on to it
    }
    ptrace(PTRACE_SINGLESTEP, thread, 0, deliver);
  }
  kill(child, SIGKILL);

  FILE *out = fopen(argv[1], "w");
  if (!out) { perror(argv[1]); return 1; }
  for (size_t i = 0; i < distinct; i++) fprintf(out, "%llx\n", (unsigned long long)first_run[i]);
  fclose(out);
  fprintf(stderr, "trace: %llu instructions, %zu distinct addresses in %s\n", steps, distinct, argv[2]);
  return 0;
}
