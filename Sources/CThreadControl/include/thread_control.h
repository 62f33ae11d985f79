#ifndef OCPP_THREAD_CONTROL_H
#define OCPP_THREAD_CONTROL_H

/// Names the calling thread (the first 15 bytes show in `top -H`, `perf` and /proc).
void ocpp_thread_set_name(const char *name);

/// Sets the calling thread's nice value (Linux: a thread's own, not the process's).
/// Returns 0, or -1 with errno set.
int ocpp_thread_set_nice(int nice);

#endif
