#include "CBuildInfo.h"

#ifndef BANKSYNC_GIT_COMMIT
#define BANKSYNC_GIT_COMMIT "unknown"
#endif

const char *banksync_git_commit(void) {
    return BANKSYNC_GIT_COMMIT;
}
