#ifndef BANKSYNC_CLIBPQ_SHIM_H
#define BANKSYNC_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
