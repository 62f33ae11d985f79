#define _GNU_SOURCE
#include "thread_control.h"

#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void ocpp_thread_set_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = '\0';
    pthread_setname_np(pthread_self(), shortened);
}

int ocpp_thread_set_nice(int nice) {
    // On Linux, PRIO_PROCESS with a thread id changes that thread alone.
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}
