// test::BackgroundCommit: runs an LmdbStore's detached batch (detach_batch) on a thread of
// its own, as the node's writer thread does, and installs the store's settle hook, which
// waits for that thread and finishes the commit. Tests use it to act during the window.
#pragma once

#include "store/lmdb_store.hpp"

#include <functional>
#include <thread>
#include <utility>

namespace test {

class BackgroundCommit {
public:
    // `after` runs once each commit is finished (e.g. WriteBehindStore::release_flushed).
    explicit BackgroundCommit(store::LmdbStore& s, std::function<void()> after = {}) : store_(s), after_(std::move(after)) {
        store_.set_settle_hook([this] { finish(); });
    }
    ~BackgroundCommit() {
        finish();
        store_.set_settle_hook({});
    }
    BackgroundCommit(BackgroundCommit const&) = delete;
    BackgroundCommit& operator=(BackgroundCommit const&) = delete;

    // Detaches the open batch and commits it on a new thread; false when there was
    // nothing to commit (no window opens).
    bool start() {
        detached_ = store_.detach_batch();
        if (detached_.txn == nullptr) return false;
        thread_ = std::thread([this, txn = detached_.txn] { rc_ = store::LmdbStore::commit_detached(txn); });
        return true;
    }
    // Waits for the commit and ends the window (what the settle hook does).
    void finish() {
        if (!thread_.joinable()) return;
        thread_.join();
        ok_ = static_cast<bool>(store_.finish_detached(detached_, rc_));
        ++finished_;
        if (after_) after_();
    }
    bool ok() const { return ok_; }
    int finished() const { return finished_; }
    store::LmdbStore::Detached const& detached() const { return detached_; }

private:
    store::LmdbStore& store_;
    std::function<void()> after_;
    store::LmdbStore::Detached detached_;
    std::thread thread_;
    int rc_ = 0;
    bool ok_ = false;
    int finished_ = 0;
};

}  // namespace test
