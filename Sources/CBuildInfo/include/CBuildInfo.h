#ifndef BANKSYNC_CBUILDINFO_H
#define BANKSYNC_CBUILDINFO_H

/// The git commit the binary was built from: `scripts/release` passes it with
/// `-Xcc -DBANKSYNC_GIT_COMMIT="\"<sha>\""`; a plain `swift build` says "unknown".
const char *banksync_git_commit(void);

#endif
