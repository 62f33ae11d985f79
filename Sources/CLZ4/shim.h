#ifndef OCPP_SERVER_CLZ4_SHIM_H
#define OCPP_SERVER_CLZ4_SHIM_H
#include <lz4.h>
#endif
