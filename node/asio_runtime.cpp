// Map: start-up (data dir, lock, identity, store, sockets, API, metrics, snapshot,
// bootstrap) in Runtime::start; the input paths on_receive and on_wakeup, both ending in
// drain_outputs; periodic work on three timers (metrics and health 1 s, snapshot 60 s,
// bootstrap re-resolution with backoff while the table is thin); LAN discovery
// (lan_discovery.hpp) when configured; shutdown on a signal. ApiBackend is implemented
// here so API commands enter the engine on the same thread as everything else. Group
// commit: on_receive wraps each receive burst in one LMDB batch, and drain_outputs holds
// the engine's outputs while the batch has uncommitted puts, so no answer leaves before
// the records it confirms are committed (end_batch releases them). TCP link input gets the
// same batching (the messages a read brings share one commit). Durable publish: a publish
// joins the open batch (or opens one) with its outbox row, and its API answer waits for the
// commit, which a posted handler makes after the loop's other ready work (group commit of
// concurrent publishes); timers that need the store outside a batch settle it first.
// Write-behind: the DHT writes through store::WriteBehindStore, so a STORE adds nothing to
// the receive batch and its answer leaves at once; a timer (flush_interval) commits
// the queued records and the messages link input wrote behind (the only periodic commit
// of a busy node: engine wakeups and the history tick run inside the open batch), and
// shutdown flushes them (docs/storage.md, "Write-behind"). Background commit: the flush
// timer's commit and durable publishes' group commits run on the writer thread
// (start_background_commit), the publishes and held outputs released when it ends
// (release_finished); meanwhile the message store keeps its writes in memory and the
// store's other writes wait for the commit (docs/storage.md, "Background commit").
#include "node/asio_runtime.hpp"

#include "core/assert.hpp"
#include "core/crypto.hpp"
#include "core/identity_file.hpp"
#include "metrics/exporter.hpp"
#include "node/api_pubsub.hpp"
#include "metrics/metric_names.hpp"
#include "node/api_routes.hpp"
#include "node/asio.hpp"
#include "node/backoff.hpp"
#include "node/engine.hpp"
#include "node/engine_metrics.hpp"
#include "node/http_api.hpp"
#include "node/lan_discovery.hpp"
#include "node/net.hpp"
#include "node/tcp_links.hpp"
#include "node/api_history.hpp"
#include "node/outbox.hpp"
#include "node/stream_feed.hpp"
#include "store/lmdb_store.hpp"
#include "store/message_db.hpp"
#include "store/write_behind.hpp"
#include "pubsub/topic.hpp"
#include "store/routing_snapshot.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <set>
#include <unordered_map>

#ifndef KADMIUM_VERSION
#define KADMIUM_VERSION "0.0.0"
#endif

namespace node {

char const* version() { return KADMIUM_VERSION; }

namespace {

namespace fs = std::filesystem;
using udp = asio::ip::udp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto metrics_interval = 1s;
constexpr auto snapshot_interval = 60s;
// The first snapshot comes soon after start, so that a node killed (SIGKILL, power loss)
// in its first minute still rejoins without --bootstrap when it comes back.
constexpr auto snapshot_first = 5s;
// Message retention and the durable outbox run on one timer; each expiry pass drops at
// most this many messages (bounded steps: never a long stall of the loop).
constexpr auto history_interval = 1s;
constexpr std::size_t expire_budget = 4096;
// Event streams replaying stored messages are paced on this timer.
constexpr auto replay_interval = 10ms;
// Bootstrap names are resolved and contacted again while the routing table has fewer
// than this many contacts: in Kubernetes a headless Service's DNS records appear only as
// pods start, so the first resolution often finds few or none. Backoff 1 s doubling to
// 60 s; once the table is not thin, it is checked every 30 s (and the backoff restarts at
// 1 s when it thins out again).
constexpr std::size_t bootstrap_thin_peers = 8;
constexpr auto bootstrap_backoff_initial = 1s;
constexpr auto bootstrap_backoff_max = 60s;
constexpr auto bootstrap_check_interval = 30s;
// The largest UDP payload; the DHT never sends more, but a peer might.
constexpr std::size_t datagram_max = 64 * 1024;
// Datagrams read per readiness before the timer is re-armed: amortises the timer work
// under load without starving other handlers.
constexpr int receive_batch_max = 64;
// How long an accepted DHT record, or a message received on a link, may wait before its
// commit: the window a process crash can lose (soft state: the putter republishes, holders
// re-replicate; a subscriber's catch-up fetches missed messages from its peers). One commit
// per interval replaces one per receive burst (docs/storage.md, "Write-behind"). 1 s rather than 200 ms: in a large network each node holds few of the
// puts, so it commits about once per interval whatever the rate; 200 ms measured no faster
// and used as much or more CPU per pair (docs/benchmarks.md).
constexpr auto flush_interval = 1s;

// Writes `contents` to `path` atomically (temporary file, then rename) with `mode`.
bool write_file_atomic(fs::path const& path, std::string const& contents, mode_t mode, std::string& error) {
    auto tmp = path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        error = tmp.string() + ": " + std::strerror(errno);
        return false;
    }
    bool ok = ::fchmod(fd, mode) == 0 &&
              ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
    int saved = errno;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        error = path.string() + ": " + std::strerror(ok ? errno : saved);
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

struct UdpListener {
    explicit UdpListener(asio::io_context& io) : socket(io), buffer(std::make_unique<std::array<std::byte, datagram_max>>()) {}
    udp::socket socket;
    core::Endpoint local;
    std::unique_ptr<std::array<std::byte, datagram_max>> buffer;
    udp::endpoint from;
};

class Runtime final : public ApiBackend {
public:
    explicit Runtime(NodeConfig config)
        : config_(std::move(config)),
          metrics_timer_(io_),
          snapshot_timer_(io_),
          bootstrap_timer_(io_),
          wakeup_timer_(io_),
          history_timer_(io_),
          replay_timer_(io_),
          flush_timer_(io_),
          signals_(io_),
          resolver_(io_),
          bootstrap_backoff_(bootstrap_backoff_initial, bootstrap_backoff_max) {}

    ~Runtime() override {
        // Before the stores go: their destructors write, and a write settles the commit.
        if (store_) close_background_commit();
        if (lock_fd_ >= 0) ::close(lock_fd_);
    }

    // Everything that can fail at start-up; an error is one line for stderr.
    core::Result<void, std::string> start();
    void run() { io_.run(); }
    // Leaves the exporter undestroyed: a civetweb server that has served a scrape takes
    // about 2 s to stop, longer than the whole shutdown may take. The process exits right
    // after, so nothing is lost (the store is synced and closed by then).
    void abandon_exporter() { (void)exporter_.release(); }

    // --- ApiBackend. ---
    StatusInfo status() const override;
    std::vector<PeerRow> peers() const override;
    std::size_t value_size_max() const override { return engine_->dht().config().value_size_max; }
    std::size_t payload_size_max() const override { return engine_config_.pubsub.limits.payload_max; }
    core::Result<PublishInfo, ApiError> publish(std::string const& topic, core::Bytes payload) override;
    core::Result<void, ApiError> subscribe(std::string const& topic) override;
    void unsubscribe(std::string const& topic) override;
    std::vector<TopicRow> topics() const override;
    core::Result<std::shared_ptr<EventStream>, ApiError> open_stream(std::string const& topic) override;
    void publish_durable(std::string const& topic, core::Bytes payload, bool wait_durable, PublishDone done) override;
    void later(std::function<void()> work) override {
        asio::post(io_, [this, work = std::move(work)] {
            if (!stopping_) work();
        });
    }
    core::Result<HistoryPage, ApiError> history(HistoryQuery const& query) override;
    core::Result<std::shared_ptr<EventStream>, ApiError> open_stream_from(std::string const& topic,
                                                                        std::optional<pubsub::StoreCursor> after) override;
    core::Duration ttl_default() const override { return engine_->dht().config().ttl_default; }
    core::Duration ttl_max() const override { return engine_->dht().config().ttl_max; }
    void put(core::Key const& key, core::Bytes value, core::Duration ttl, Done done) override {
        auto id = engine_->put(now(), key, std::move(value), ttl);
        pending_.emplace(id, std::move(done));
        after_input();
    }
    void get(core::Key const& key, Done done) override {
        auto id = engine_->get(now(), key);
        pending_.emplace(id, std::move(done));
        after_input();
    }
    void get_streaming(core::Key const& key, Found found, Done done, bool until_first) override {
        auto id = engine_->get(now(), key, until_first);
        pending_.emplace(id, std::move(done));
        found_.emplace(id, std::move(found));
        after_input();
    }
    void lookup(core::NodeId const& target, Done done) override {
        auto id = engine_->find_node(now(), target);
        pending_.emplace(id, std::move(done));
        after_input();
    }

private:
    // The metrics address actually bound ("127.0.0.1:9100"), or nullopt when off.
    std::optional<std::string> metrics_address() const {
        if (!exporter_) return std::nullopt;
        auto m = *config_.metrics;
        m.port = exporter_->port();
        return m.to_string();
    }
    core::Instant now() const {
        return core::Instant{std::chrono::duration_cast<core::Duration>(Clock::now() - start_time_)};
    }

    core::Result<void, std::string> prepare_data_dir();
    core::Result<void, std::string> open_sockets();
    core::Result<std::unique_ptr<UdpListener>, std::string> open_udp(core::Endpoint const& address);
    core::Result<void, std::string> write_api_files();
    // Pings the contacts saved by the last run; returns how many.
    std::size_t ping_snapshot();
    void save_snapshot();
    void start_bootstrap();
    void on_resolved(HostPort const& hp, boost::system::error_code ec, udp::resolver::results_type const& results);
    // Warns (once per bootstrap address) when none of its addresses has a listen socket of
    // its family: an IPv4 bootstrap for a node listening on IPv6 only would otherwise sit
    // at 0 peers in silence.
    void warn_unreachable(HostPort const& hp, std::vector<core::Endpoint> const& resolved);
    void report_health();
    void start_lan_discovery();
    // Whether a routing-table contact has this address (a linear scan: callers are rate
    // limited, and the table is small).
    bool is_known_address(core::Endpoint const& address) const;

    void do_receive(UdpListener& l);
    void on_receive(UdpListener& l, boost::system::error_code ec, std::size_t n);
    void send(core::Transmit const& t);
    UdpListener* socket_for(core::Endpoint const& to);

    void drain_outputs();
    // True while outputs must wait for the batch's commit: it has uncommitted puts that
    // an output may confirm (not the written-behind messages), or outputs are already
    // waiting (order is kept).
    bool holding() const {
        return confirming_puts() > 0 || durable_kept_ || !held_transmits_.empty() || !held_events_.empty();
    }
    // The batch's uncommitted puts other than the messages link input wrote behind. After
    // an early (mid-batch) commit every uncommitted put counts: which are behind is unknown.
    std::size_t confirming_puts() const {
        auto const uncommitted = store_->batch_uncommitted();
        if (store_->batch_commits() != behind_commits_) return uncommitted;
        return uncommitted - std::min(behind_, uncommitted);
    }
    // After link input: the batch's puts so far are received messages (and catch-up
    // batches), written behind: the flush timer commits them (flush_records), outputs do
    // not wait for them. Takes every uncommitted put: an input path whose puts need the
    // commit (UDP bursts, publishes) commits or awaits its batch before link input runs.
    void mark_written_behind() {
        if (!store_->in_batch()) return;
        behind_ = store_->batch_uncommitted();
        behind_commits_ = store_->batch_commits();
    }
    // Ends an input's batch: commits it when it holds puts that outputs wait for, else
    // leaves it open (written-behind messages only) for the flush timer.
    void end_input_batch() {
        if (holding()) return end_batch();
        mark_written_behind();
    }
    // Commits the receive burst's batch, then sends the held transmits (or, when the
    // commit failed, drops them: they may acknowledge lost records) and delivers the held
    // events.
    void end_batch();
    // Opens the store's batch for an input unless one is open.
    void begin_input_batch() {
        if (!store_->in_batch()) store_->begin_batch();
    }
    // Commits an open batch now: for work that needs the store outside one (snapshots,
    // message expiry) while publishes wait for their commit.
    void settle_batch() {
        if (store_->in_batch()) end_batch();
    }
    void schedule_publish_commit();
    std::int64_t wall_ms() const { return wall_.to_unix_ms(now()); }
    void arm_history();
    void history_tick();
    // Drops messages past retention (bounded work). Outside a batch only.
    void expire_messages();
    void arm_replay();
    // Arms the write-behind flush when DHT records are queued and no flush is armed.
    void arm_flush();
    // Commits the queued DHT records now (outside any batch: settles it first).
    void flush_records();
    // The flush timer's commit: the queued DHT records join the open batch (or one of its
    // own), whose transaction the writer thread commits while the loop goes on (with what
    // waits for it). Expiry runs after.
    void flush_in_background();
    // Hands the open batch (with the message store's kept writes) to the writer thread,
    // and with it what waits for its commit: publishes to answer, outputs to release.
    void start_background_commit();
    // Waits for the background commit, if any, and accounts for it (the store's settle
    // hook, so it only records the outcome: release_finished hands out what waited).
    void close_background_commit();
    struct BackgroundCommit;
    void finish_commit(BackgroundCommit&& commit, int rc);
    // Answers the publishes and sends (or, after a failed commit, withholds) the outputs
    // of finished commits; at a top-level turn of the loop, never inside a store call.
    void release_finished();
    // Posted by the writer thread when its commit is done: closes it, then writes what the
    // message store kept meanwhile, and expires messages when no batch is open.
    void after_background_commit();
    // Closes a background commit and writes the message store's kept writes into the
    // batch: what history and replays read must include every delivered message.
    void make_messages_readable();
    void log_store_full(std::string const& what);
    void log_commit_failures();
    void after_input() {
        drain_outputs();
        // An API command or a timer may have put into a batch that link input left open
        // (a DHT record written through): its held outputs must not wait for the flush
        // timer, so commit soon, as for a publish.
        if (store_->in_batch() && confirming_puts() > 0) schedule_publish_commit();
        arm_wakeup();
    }
    void arm_wakeup();
    void on_event(Event& event);
    void on_dht_event(dht::Event const& event);
    void on_delivered(pubsub::Delivered const& delivered);
    void load_subscriptions();
    void save_subscriptions();

    void arm_metrics();
    void arm_snapshot(std::chrono::steady_clock::duration after);
    void arm_bootstrap_retry(std::chrono::steady_clock::duration after);
    void update_metrics();
    void shutdown(int signal);

    NodeConfig config_;
    Clock::time_point const start_time_ = Clock::now();
    // Declared first so it is destroyed last: every object below that holds a handler or a
    // socket goes before the io_context.
    asio::io_context io_{1};
    // The writer thread: it runs the flush timer's commits and durable publishes' group
    // commits (start_background_commit), so the fdatasync does not stop the loop. Its one
    // job at a time is a detached batch.
    asio::thread_pool writer_{1};
    core::WallClockAnchor wall_;
    int lock_fd_ = -1;

    std::optional<core::Identity> identity_;
    std::unique_ptr<core::SodiumCrypto> crypto_;
    std::unique_ptr<store::LmdbStore> store_;
    // The DHT's records, written behind to store_; declared after it, so destroyed (and
    // flushed) before it.
    std::unique_ptr<store::WriteBehindStore> records_;
    EngineConfig engine_config_;
    std::unique_ptr<store::LmdbMessageStore> messages_;
    std::unique_ptr<DurableOutbox> outbox_;
    std::unique_ptr<Engine> engine_;
    std::unique_ptr<TcpLinks> links_;
    // Open event streams per subscribed topic name; gone ones are pruned on delivery.
    std::unordered_map<std::string, std::vector<StreamFeed>> event_streams_;
    // Publishes waiting for the commit of the batch holding them.
    struct WaitingPublish {
        PublishInfo info;
        PublishDone done;
    };
    std::vector<WaitingPublish> waiting_publishes_;
    bool commit_posted_ = false;
    std::vector<std::string> subscriptions_;  // as saved in DATA/subscriptions
    std::vector<std::unique_ptr<UdpListener>> sockets_;
    std::unique_ptr<HttpApi> api_;
    std::unique_ptr<metrics::Exporter> exporter_;
    std::unique_ptr<LanDiscovery> lan_;
    std::string cookie_;

    asio::steady_timer metrics_timer_;
    asio::steady_timer snapshot_timer_;
    asio::steady_timer bootstrap_timer_;
    asio::steady_timer wakeup_timer_;
    asio::steady_timer history_timer_;
    asio::steady_timer replay_timer_;
    bool replay_armed_ = false;
    asio::steady_timer flush_timer_;
    bool flush_armed_ = false;
    std::optional<core::Instant> armed_;
    asio::signal_set signals_;
    udp::resolver resolver_;
    core::Rng rng_{0};  // jitter for the runtime's own timers; seeded in start()
    Backoff bootstrap_backoff_;
    std::size_t snapshot_contacts_ = 0;  // contacts the last run saved (pinged again while the table is empty)
    std::size_t resolves_in_flight_ = 0;
    std::set<std::string> warned_unreachable_;

    std::unordered_map<dht::LookupId, Done> pending_;
    std::unordered_map<dht::LookupId, Found> found_;  // streaming gets, until their LookupDone
    bool stopping_ = false;
    // Outputs of the current receive burst waiting for its commit; at most what
    // receive_batch_max datagrams produce.
    std::vector<core::Transmit> held_transmits_;
    std::vector<Event> held_events_;
    // The commit on the writer thread, with what waits for it (start_background_commit).
    struct BackgroundCommit {
        store::LmdbStore::Detached detached;
        std::future<int> result;  // commit_detached's return code
        Clock::time_point started;
        std::vector<WaitingPublish> publishes;
        std::vector<core::Transmit> transmits;
        std::vector<Event> events;
    };
    std::optional<BackgroundCommit> background_;
    // Finished commits whose waiting outputs are not released yet (release_finished).
    struct Finished {
        bool committed = false;
        std::vector<WaitingPublish> publishes;
        std::vector<core::Transmit> transmits;
        std::vector<Event> events;
    };
    std::vector<Finished> finished_;
    // A durable publish's rows are kept by the message store (a background commit was
    // running): outputs are held until the batch they join is committed.
    bool durable_kept_ = false;
    // Uncommitted puts of the open batch that are written behind (mark_written_behind),
    // valid while the store's batch_commits() equals behind_commits_.
    std::size_t behind_ = 0;
    std::size_t behind_commits_ = 0;

    std::uint64_t send_errors_ = 0;
    std::uint64_t send_errors_logged_ = 0;
    std::uint64_t receive_errors_ = 0;
    std::uint64_t store_errors_logged_ = 0;
    Clock::time_point last_error_log_{};
    std::uint64_t commit_failures_ = 0;       // failed batch commits (their records are lost)
    std::uint64_t answers_withheld_ = 0;      // transmits dropped because their batch failed
    std::uint64_t commit_failures_logged_ = 0;
    Clock::time_point last_commit_log_{};
    std::uint64_t publishes_refused_ = 0;      // publishes refused because the store is full
    std::uint64_t publishes_refused_logged_ = 0;
    Clock::time_point last_full_log_{};
};

core::Result<void, std::string> Runtime::prepare_data_dir() {
    auto const& dir = config_.data_dir;
    std::error_code ec;
    auto st = fs::status(dir, ec);
    if (st.type() == fs::file_type::not_found) {
        fs::create_directories(dir, ec);
        if (ec) return core::Err("cannot create data dir " + dir.string() + ": " + ec.message());
        fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
        if (ec) return core::Err("cannot set permissions of data dir " + dir.string() + ": " + ec.message());
    } else if (ec) {
        return core::Err("cannot use data dir " + dir.string() + ": " + ec.message());
    } else if (st.type() != fs::file_type::directory) {
        return core::Err("data dir " + dir.string() + " exists and is not a directory");
    }
    // One node per data dir: two would share the identity and overwrite api.addr.
    auto lock_path = dir / "node.lock";
    lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0) return core::Err("cannot open " + lock_path.string() + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) return core::Err("data dir " + dir.string() + " is in use by another kadmium node");
        return core::Err("cannot lock " + lock_path.string() + ": " + std::strerror(errno));
    }
    return {};
}

core::Result<void, std::string> Runtime::open_sockets() {
    links_ = std::make_unique<TcpLinks>(io_, [this] { return now(); }, [this] {
        // A link input's batch (begun by set_before_input) stays open: the messages it
        // stored are written behind, committed by the flush timer (at most
        // flush_interval later) or by the next commit that comes first. Deliveries and
        // forwards do not wait for the disk.
        mark_written_behind();
        drain_outputs();
        arm_wakeup();
    });
    for (auto const& address : config_.listen) {
        // Links listen on TCP at the DHT's port number. With port 0 the UDP port is picked
        // first; if its TCP twin is taken, try another pick (bounded).
        constexpr int picks_max = 16;
        for (int pick = 1;; ++pick) {
            auto udp = open_udp(address);
            if (!udp) return core::Err(udp.error());
            auto tcp_at = udp.value()->local;
            auto bound = links_->bind(tcp_at);
            if (bound) {
                sockets_.push_back(std::move(udp).value());
                break;
            }
            if (address.port != 0 || pick == picks_max) return core::Err(bound.error());
        }
    }
    return {};
}

core::Result<std::unique_ptr<UdpListener>, std::string> Runtime::open_udp(core::Endpoint const& address) {
    {
        auto l = std::make_unique<UdpListener>(io_);
        auto const ep = to_udp(address);
        boost::system::error_code ec;
        auto fail = [&](char const* what) {
            return core::Err("cannot listen on " + address.to_string() + ": " + what + ": " + ec.message());
        };
        l->socket.open(ep.protocol(), ec);
        if (ec) return fail("open");
        if (!address.is_v4()) {
            // "[::]:4000" next to "0.0.0.0:4000" must not collide; IPv4 peers arrive on
            // the IPv4 socket.
            l->socket.set_option(asio::ip::v6_only(true), ec);
            if (ec) return fail("IPV6_V6ONLY");
        }
        l->socket.bind(ep, ec);
        if (ec) return fail("bind");
        // Sends never block the loop: a full socket buffer drops the datagram (counted).
        l->socket.non_blocking(true, ec);
        if (ec) return fail("non-blocking");
        boost::system::error_code ignored;
        l->socket.set_option(asio::socket_base::receive_buffer_size(4 * 1024 * 1024), ignored);
        l->local = from_udp(l->socket.local_endpoint(ec));
        if (ec) return fail("local address");
        return l;
    }
}

core::Result<void, std::string> Runtime::write_api_files() {
    std::string error;
    // The cookie first: a client that sees api.addr must find the matching cookie.
    if (!write_file_atomic(config_.data_dir / "api.cookie", cookie_ + "\n", 0600, error))
        return core::Err("cannot write the API cookie: " + error);
    if (!write_file_atomic(config_.data_dir / "api.addr", api_->local_endpoint().to_string() + "\n", 0644, error))
        return core::Err("cannot write the API address: " + error);
    if (auto m = metrics_address()) {
        if (!write_file_atomic(config_.data_dir / "metrics.addr", *m + "\n", 0644, error))
            return core::Err("cannot write the metrics address: " + error);
    }
    return {};
}

core::Result<void, std::string> Runtime::start() {
    if (auto r = prepare_data_dir(); !r) return r;

    core::crypto_init();
    auto identity = core::load_or_create_identity(config_.data_dir);
    if (!identity) return core::Err(identity.error());
    identity_ = identity.value();
    crypto_ = std::make_unique<core::SodiumCrypto>(*identity_);

    auto opened = store::LmdbStore::open(config_.data_dir, config_.map_size_bytes);
    if (!opened) return core::Err(opened.error());
    store_ = std::move(opened).value();
    records_ = std::make_unique<store::WriteBehindStore>(*store_);
    store_->set_settle_hook([this] { close_background_commit(); });

    if (auto r = open_sockets(); !r) return r;

    engine_config_.dht.allow_loopback_subnet = config_.allow_loopback_subnet;
    engine_config_.pubsub.limits.payload_max = config_.message_max_bytes;
    if (config_.choke_keep) {
        engine_config_.pubsub.choke = *config_.choke_keep > 0;
        if (engine_config_.pubsub.choke) engine_config_.pubsub.choke_keep = *config_.choke_keep;
    }
    std::array<std::byte, 8> seed_bytes;
    core::os_random(seed_bytes);
    std::uint64_t seed = 0;
    std::memcpy(&seed, seed_bytes.data(), sizeof seed);
    auto const t0 = now();
    auto const wall_now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    wall_ = core::WallClockAnchor{t0, core::UnixTime{wall_now_us / 1'000'000}, wall_now_us};
    // Sequence numbers start at the wall clock in microseconds: larger than any an earlier
    // run of this identity used, unless the clock went back or that run published more
    // than a million messages a second.
    auto const first_seqno = static_cast<std::uint64_t>(wall_now_us);
    auto retention = store::MessageRetention::for_map(config_.map_size_bytes);
    if (config_.history_max_bytes) {
        retention.total_bytes_max = *config_.history_max_bytes;
        retention.topic_bytes_max = std::max<std::size_t>(*config_.history_max_bytes / 2, 1);
    }
    messages_ = std::make_unique<store::LmdbMessageStore>(*store_, retention);
    outbox_ = std::make_unique<DurableOutbox>(*messages_);
    std::vector<core::Endpoint> listen;
    for (auto const& l : sockets_) listen.push_back(l->local);
    engine_ = std::make_unique<Engine>(engine_config_, *identity_, *crypto_, *records_, *messages_, core::Rng(seed), t0,
                                       wall_, first_seqno, listen);
    links_->set_before_input([this] { begin_input_batch(); });
    links_->start(*engine_);
    rng_ = core::Rng(seed ^ 0x9e3779b97f4a7c15ull);
    outbox_->load(t0);

    std::array<std::byte, 32> secret;
    core::os_random(secret);
    cookie_ = core::to_hex(secret);
    // A publish body carries the payload as JSON text or base64 (4/3 of it) plus a topic:
    // twice the payload leaves room, and never below the default (a 64 KiB DHT value).
    HttpApiLimits api_limits;
    api_limits.body_max = std::max(api_body_max, 2 * config_.message_max_bytes);
    auto api = HttpApi::start(io_, config_.api, cookie_, *this, api_limits);
    if (!api) return core::Err(api.error());
    api_ = std::move(api).value();

    if (config_.metrics) {
        auto exporter = metrics::Exporter::start(config_.metrics->to_string());
        if (!exporter) return core::Err("cannot start metrics on " + config_.metrics->to_string() + ": " + exporter.error());
        exporter_ = std::move(exporter).value();
    }
    if (auto r = write_api_files(); !r) return r;

    std::string listen_text;
    for (auto const& l : sockets_) listen_text += (listen_text.empty() ? "" : ", ") + l->local.to_string();
    spdlog::info("kadmium {} node {} listening on {}; api {}; metrics {}; data {}", version(), engine_->dht().id().hex(),
                 listen_text, api_->local_endpoint().to_string(),
                 metrics_address().value_or("off"),
                 config_.data_dir.string());
    if (config_.allow_loopback_subnet) spdlog::info("loopback subnets allowed (local test network)");
    if (outbox_->size() > 0)
        spdlog::info("outbox: {} published message(s) not yet confirmed sent; sending them when the topics have peers",
                     outbox_->size());

    for (auto& l : sockets_) do_receive(*l);
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.async_wait([this](boost::system::error_code e, int signal) {
        if (!e) shutdown(signal);
    });

    snapshot_contacts_ = ping_snapshot();
    if (snapshot_contacts_ > 0) spdlog::info("routing snapshot: pinging {} contacts from the last run", snapshot_contacts_);
    load_subscriptions();
    start_bootstrap();
    after_input();
    if (config_.lan_discovery) start_lan_discovery();
    report_health();
    arm_metrics();
    arm_snapshot(snapshot_first);
    arm_history();
    // Retried while the table stays thin: the bootstrap addresses, and while it is empty
    // the saved contacts too (their pings may all have been lost).
    if (!config_.bootstrap.empty() || snapshot_contacts_ > 0) {
        arm_bootstrap_retry(std::chrono::duration_cast<Clock::duration>(bootstrap_backoff_.next(rng_)));
    }
    return {};
}

std::size_t Runtime::ping_snapshot() {
    auto loaded = store_->load_routing();
    if (!loaded) {
        spdlog::error("store: cannot load the routing table snapshot ({}); joining through --bootstrap only",
                      store::to_string(loaded.error()));
        return 0;
    }
    auto const t = now();
    std::size_t n = 0;
    for (auto const& entry : loaded.value()) {
        if (n == store::snapshot_entries_max) break;
        engine_->add_known_contact(t, dht::Contact::make(entry.public_key, entry.address));
        drain_outputs();
        ++n;
    }
    return n;
}

void Runtime::save_snapshot() {
    auto peers = engine_->dht().peers();
    // An empty table (say, every peer is down right now) would erase what the last run
    // learned; keep the old snapshot instead.
    if (peers.empty()) return;
    std::vector<store::SnapshotEntry> entries;
    entries.reserve(std::min(peers.size(), store::snapshot_entries_max));
    for (auto const& p : peers) {
        if (entries.size() == store::snapshot_entries_max) break;
        entries.push_back({p.contact.public_key, p.contact.address, wall_.to_unix(p.last_seen).seconds});
    }
    auto saved = store_->save_routing(entries);
    if (!saved) {
        spdlog::error("store: cannot save the routing table snapshot: {} ({}){}", store::to_string(saved.error()),
                      store_->last_error(),
                      saved.error() == store::StoreError::full ? "; the LMDB map is full: raise --map-size-mb" : "");
        return;
    }
    store_->sync();
    spdlog::debug("routing snapshot: saved {} contacts", entries.size());
}

void Runtime::start_bootstrap() {
    // A resolver stuck on a slow DNS server must not pile up lookups: one round at a time.
    if (resolves_in_flight_ > 0) return;
    for (auto const& hp : config_.bootstrap) {
        ++resolves_in_flight_;
        resolver_.async_resolve(hp.host, std::to_string(hp.port),
                                [this, hp](boost::system::error_code ec, udp::resolver::results_type results) {
                                    --resolves_in_flight_;
                                    on_resolved(hp, ec, results);
                                });
    }
}

void Runtime::on_resolved(HostPort const& hp, boost::system::error_code ec, udp::resolver::results_type const& results) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
        spdlog::warn("bootstrap: cannot resolve {}: {} (trying again while the routing table is thin)", hp.to_string(),
                     ec.message());
        return;
    }
    std::vector<core::Endpoint> resolved;
    for (auto const& r : results) {
        auto const e = from_udp(r.endpoint());
        if (std::find(resolved.begin(), resolved.end(), e) == resolved.end()) resolved.push_back(e);
    }
    warn_unreachable(hp, resolved);
    // Re-resolution rounds (the table is thin) contact only addresses not in the table
    // yet: a hello to a known node would start another join lookup for nothing.
    bool const rejoin = engine_->dht().peer_count() == 0;
    for (auto const& e : resolved) {
        if (!rejoin && is_known_address(e)) continue;
        if (socket_for(e) == nullptr) {
            // "localhost" gives ::1 too; a node without an IPv6 socket cannot reach it.
            spdlog::debug("bootstrap: skipping {} ({}): no socket of its address family", e.to_string(), hp.to_string());
            continue;
        }
        spdlog::debug("bootstrap: contacting {} ({})", e.to_string(), hp.to_string());
        engine_->bootstrap(now(), e);
        drain_outputs();
    }
    arm_wakeup();
}

void Runtime::warn_unreachable(HostPort const& hp, std::vector<core::Endpoint> const& resolved) {
    bool any_reachable = false;
    for (auto const& e : resolved) any_reachable = any_reachable || socket_for(e) != nullptr;
    if (any_reachable || resolved.empty() || !warned_unreachable_.insert(hp.to_string()).second) return;
    bool const has_v4 = std::any_of(resolved.begin(), resolved.end(), [](auto const& e) { return e.is_v4(); });
    std::string resolved_text, listen_text;
    for (auto const& e : resolved) resolved_text += (resolved_text.empty() ? "" : ", ") + e.to_string();
    for (auto const& l : sockets_) listen_text += (listen_text.empty() ? "" : ", ") + l->local.to_string();
    spdlog::warn("bootstrap: {} is unreachable from this node: its addresses are {} only ({}) and the node listens "
                 "only on {}; add a --listen address of that family, or give a bootstrap address of the node's family",
                 hp.to_string(), has_v4 ? "IPv4" : "IPv6", resolved_text, listen_text);
}

void Runtime::do_receive(UdpListener& l) {
    l.socket.async_receive_from(asio::buffer(*l.buffer), l.from,
                                [this, &l](boost::system::error_code ec, std::size_t n) { on_receive(l, ec, n); });
}

void Runtime::on_receive(UdpListener& l, boost::system::error_code ec, std::size_t n) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
        // ICMP errors from earlier sends surface here (connection refused); keep reading.
        ++receive_errors_;
    } else {
        // Group commit: the burst's puts (STOREs) share one LMDB transaction, one
        // fdatasync instead of one per record; their answers wait for it (end_batch).
        begin_input_batch();
        engine_->handle_datagram(now(), from_udp(l.from), core::ByteView(l.buffer->data(), n));
        drain_outputs();
        // More datagrams are often already queued: read them without another round trip
        // through the reactor (the socket is non-blocking).
        for (int i = 1; i < receive_batch_max; ++i) {
            boost::system::error_code e;
            auto m = l.socket.receive_from(asio::buffer(*l.buffer), l.from, 0, e);
            if (e) break;
            engine_->handle_datagram(now(), from_udp(l.from), core::ByteView(l.buffer->data(), m));
            drain_outputs();
        }
        end_input_batch();
        // A burst of STOREs filled half the write-behind queue: commit it now (the
        // answers are out already), before puts start waiting for commits.
        if (records_->should_flush()) flush_records();
    }
    arm_wakeup();
    do_receive(l);
}

UdpListener* Runtime::socket_for(core::Endpoint const& to) {
    // Same family; among several, prefer one bound to the wildcard address or to the same
    // kind of address (loopback to loopback), so replies leave from a sensible source.
    UdpListener* fallback = nullptr;
    for (auto& l : sockets_) {
        if (l->local.family != to.family) continue;
        if (l->local.is_unspecified() || l->local.is_loopback() == to.is_loopback()) return l.get();
        if (!fallback) fallback = l.get();
    }
    return fallback;
}

void Runtime::send(core::Transmit const& t) {
    auto* l = socket_for(t.to);
    if (l == nullptr) {
        ++send_errors_;
        spdlog::trace("send: no socket of the family of {}", t.to.to_string());
        return;
    }
    boost::system::error_code ec;
    l->socket.send_to(asio::buffer(t.bytes.data(), t.bytes.size()), to_udp(t.to), 0, ec);
    if (ec) {
        ++send_errors_;
        spdlog::trace("send to {} failed: {}", t.to.to_string(), ec.message());
    }
}

void Runtime::drain_outputs() {
    for (;;) {
        bool any = false;
        while (auto t = engine_->poll_transmit()) {
            if (holding()) {
                held_transmits_.push_back(std::move(*t));
            } else {
                send(*t);
            }
            any = true;
        }
        while (auto e = engine_->poll_event()) {
            if (holding()) {
                held_events_.push_back(std::move(*e));
            } else {
                on_event(*e);
            }
            any = true;
        }
        if (!any) break;
    }
    links_->flush();
}

void Runtime::end_batch() {
    CORE_ASSERT(store_->in_batch());
    // Durable publishes' rows kept during a background commit must be in this batch (this
    // waits for that commit); earlier commits' outputs go out before this one's.
    if (durable_kept_) make_messages_readable();
    durable_kept_ = false;
    release_finished();
    auto const commit_started = Clock::now();
    bool const wrote = store_->batch_uncommitted() > 0;
    auto committed = store_->commit_batch();
    if (exporter_ && wrote)
        exporter_->observe_store_commit(std::chrono::duration<double>(Clock::now() - commit_started).count());
    // Publishes are answered only now: after the commit that made them durable.
    auto publishes = std::move(waiting_publishes_);
    waiting_publishes_.clear();
    for (auto& p : publishes) {
        if (committed) p.done(std::move(p.info));
        else p.done(core::Err(ApiError{503, "the message could not be written to disk (" + store_->last_error() + ")"}));
    }
    CORE_ASSERT(!store_->in_batch() && store_->batch_uncommitted() == 0);
    behind_ = 0;
    if (committed) {
        for (auto const& t : held_transmits_) send(t);
    } else {
        // The records are lost (the node keeps serving). Their STORED answers, and any
        // answer that read them, must not go out: to the peers this looks like a lost
        // datagram, and they retry.
        ++commit_failures_;
        answers_withheld_ += held_transmits_.size();
        log_commit_failures();
    }
    held_transmits_.clear();
    // Events last, from a local copy: a callback may give the engine a command, whose
    // outputs must not be held behind these.
    auto events = std::move(held_events_);
    held_events_.clear();
    for (auto& e : events) on_event(e);
    links_->flush();
}

void Runtime::log_commit_failures() {
    // At most one line per 10 s; update_metrics reports what the limit held back.
    auto const wall = Clock::now();
    if (commit_failures_ == commit_failures_logged_ || wall - last_commit_log_ < 10s) return;
    spdlog::error("store: {} group commit(s) failed, their records are lost ({} in all; {} answers withheld); "
                  "still serving; last error: {}",
                  commit_failures_ - commit_failures_logged_, store_->records_lost(), answers_withheld_,
                  store_->last_error());
    commit_failures_logged_ = commit_failures_;
    last_commit_log_ = wall;
}

void Runtime::arm_wakeup() {
    arm_flush();
    auto next = engine_->next_wakeup();
    if (next == armed_) return;
    armed_ = next;
    if (!next) {
        wakeup_timer_.cancel();
        return;
    }
    // Instant::max() and other far-away wakeups: wake up within the hour anyway (a
    // spurious handle_timeout is harmless) instead of overflowing the clock arithmetic.
    auto delay = next->since_origin - now().since_origin;
    auto const cap = std::chrono::duration_cast<core::Duration>(std::chrono::hours(1));
    if (delay > cap) delay = cap;
    wakeup_timer_.expires_after(std::max(delay, core::Duration::zero()));
    wakeup_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        armed_.reset();
        // Inside a batch link input left open, if any: the written-behind messages wait
        // for the flush timer, not for this wakeup (the heartbeat and the DHT's timers
        // come several times a second, and each commit is an fdatasync on this loop). The
        // DHT's once-a-minute sweep commits the batch early itself (LmdbStore::erase_expired).
        engine_->handle_timeout(now());
        after_input();
    });
}

void Runtime::on_event(Event& event) {
    if (auto* d = std::get_if<dht::Event>(&event)) return on_dht_event(*d);
    if (auto* m = std::get_if<pubsub::Delivered>(&event)) return on_delivered(*m);
    if (auto* open = std::get_if<StreamOpen>(&event)) return links_->open(open->id, open->to);
    if (auto* close = std::get_if<StreamClose>(&event)) return links_->close(close->id, std::move(close->last_bytes));
}

void Runtime::on_delivered(pubsub::Delivered const& delivered) {
    if (exporter_ && !delivered.caught_up()) {
        // Author's clock to ours: both are wall clocks, so skew between machines shows up
        // here (negative values count as 0). A caught-up message's age is not latency.
        auto const latency_ms = wall_.to_unix_ms(now()) - delivered.message.ts_ms;
        exporter_->observe_delivery_latency(static_cast<double>(latency_ms) / 1000.0);
    }
    auto it = event_streams_.find(delivered.topic);
    if (it == event_streams_.end()) return;
    auto& feeds = it->second;
    for (auto& feed : feeds) {
        bool const was_cut = feed.stream().cut();
        feed.deliver(delivered);
        if (!was_cut && feed.stream().cut())
            spdlog::warn("subscribe: an event-stream client of topic {} fell behind and was cut", delivered.topic);
    }
    std::erase_if(feeds, [](auto const& f) { return f.gone(); });
}

void Runtime::on_dht_event(dht::Event const& event) {
    if (auto const* done = std::get_if<dht::LookupDone>(&event)) {
        if (exporter_) exporter_->observe_lookup(*done);
        found_.erase(done->id);
        if (auto it = pending_.find(done->id); it != pending_.end()) {
            auto callback = std::move(it->second);
            pending_.erase(it);
            callback(*done);
        }
    } else if (auto const* values = std::get_if<dht::ValuesFound>(&event)) {
        if (auto it = found_.find(values->id); it != found_.end()) it->second(*values);
    } else if (auto const* reached = std::get_if<dht::BootstrapReached>(&event)) {
        spdlog::info("bootstrap: reached node {} at {}", reached->id.short_hex(), reached->address.to_string());
    }
}

bool Runtime::is_known_address(core::Endpoint const& address) const {
    for (auto const& p : engine_->dht().peers())
        if (p.contact.address == address) return true;
    return false;
}

void Runtime::start_lan_discovery() {
    static_assert(metrics::lan_result_labels.size() == LanDiscovery::result_count);
    LanDiscovery::Hooks hooks;
    hooks.now = [this] { return now(); };
    hooks.peer_count = [this] { return engine_->dht().peer_count(); };
    hooks.known = [this](core::Endpoint const& address) { return is_known_address(address); };
    hooks.found = [this](core::Endpoint const& address) {
        if (socket_for(address) == nullptr) return;
        // The normal hello exchange: the announcement itself proves nothing.
        engine_->bootstrap(now(), address);
        after_input();
    };
    lan_ = std::make_unique<LanDiscovery>(io_, engine_->dht().id(), core::Rng(rng_.next()), std::move(hooks));
    std::vector<core::Endpoint> listen;
    for (auto const& l : sockets_) listen.push_back(l->local);
    lan_->start(listen);
}

void Runtime::report_health() {
    // The store is opened before start() succeeds and closed only after the loop stops,
    // so "store open" is whether it exists; a failing store shows in the error counters.
    if (exporter_) exporter_->health().report(Clock::now(), engine_->dht().peer_count(), store_ != nullptr);
}

void Runtime::update_metrics() {
    auto const& dht = engine_->dht();
    auto const t = now();
    report_health();
    if (exporter_) {
        metrics::Gauges g;
        g.peers = dht.peer_count();
        g.active_peers = dht.active_peer_count(t);
        g.records = dht.record_count();
        g.lookups_in_flight = dht.lookups_in_flight();
        g.uptime_s = core::to_seconds(t.since_origin);
        exporter_->update(dht.stats(), g);
        exporter_->update_pubsub(pubsub_snapshot(*engine_));
        auto scores = engine_->pubsub().peer_scores(t);
        exporter_->observe_peer_scores(scores);
        metrics::StoreSnapshot st;
        add_catchup(*engine_, st);
        st.messages = messages_->message_count();
        st.bytes = messages_->bytes();
        st.capacity_bytes = messages_->retention().total_bytes_max;
        st.dht_records_written_through = records_->counts().fallbacks;
        st.dht_records_lost = records_->counts().lost;
        exporter_->update_store(st);
        if (lan_) exporter_->update_lan(lan_->counts());
    }
    log_commit_failures();
    // Operating errors are logged, rate-limited to one line per 10 s per kind.
    auto const wall = Clock::now();
    if (wall - last_error_log_ < 10s) return;
    if (auto errors = dht.stats().store_errors; errors > store_errors_logged_) {
        spdlog::error("store: {} record operations failed (is the LMDB map full? raise --map-size-mb); still serving",
                      errors - store_errors_logged_);
        store_errors_logged_ = errors;
        last_error_log_ = wall;
    }
    if (send_errors_ > send_errors_logged_) {
        spdlog::warn("send: {} datagrams could not be sent", send_errors_ - send_errors_logged_);
        send_errors_logged_ = send_errors_;
        last_error_log_ = wall;
    }
}

void Runtime::arm_metrics() {
    metrics_timer_.expires_after(metrics_interval);
    metrics_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        update_metrics();
        arm_metrics();
    });
}

void Runtime::arm_snapshot(std::chrono::steady_clock::duration after) {
    snapshot_timer_.expires_after(after);
    snapshot_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        settle_batch();
        save_snapshot();
        arm_snapshot(snapshot_interval);
    });
}

void Runtime::arm_bootstrap_retry(std::chrono::steady_clock::duration after) {
    bootstrap_timer_.expires_after(after);
    bootstrap_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        auto const peers = engine_->dht().peer_count();
        if (peers >= bootstrap_thin_peers) {
            bootstrap_backoff_.reset();
            arm_bootstrap_retry(bootstrap_check_interval);
            return;
        }
        if (peers == 0 && snapshot_contacts_ > 0) {
            spdlog::info("bootstrap: routing table still empty, pinging the {} saved contacts again", snapshot_contacts_);
            ping_snapshot();
        }
        if (!config_.bootstrap.empty()) {
            if (peers == 0) spdlog::info("bootstrap: routing table still empty, resolving the bootstrap addresses again");
            else spdlog::debug("bootstrap: routing table thin ({} peers), resolving the bootstrap addresses again", peers);
            start_bootstrap();
        }
        arm_bootstrap_retry(std::chrono::duration_cast<Clock::duration>(bootstrap_backoff_.next(rng_)));
    });
}

void Runtime::shutdown(int signal) {
    if (stopping_) return;
    spdlog::info("{}: shutting down", signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal");
    // Probes see the node leave at once (a load balancer stops sending it traffic).
    if (exporter_) exporter_->health().stopping();
    settle_batch();
    flush_records();
    auto const& wb = records_->counts();
    spdlog::info("store: DHT records written behind: {} accepted, {} written through (queue full), {} commits, {} lost",
                 wb.queued, wb.fallbacks, wb.flushes, wb.lost);
    save_snapshot();
    store_->sync();
    stopping_ = true;
    std::error_code ec;
    fs::remove(config_.data_dir / "api.addr", ec);
    fs::remove(config_.data_dir / "metrics.addr", ec);
    api_->stop();
    if (lan_) lan_->stop();
    for (auto& l : sockets_) {
        boost::system::error_code ignored;
        l->socket.close(ignored);
    }
    metrics_timer_.cancel();
    snapshot_timer_.cancel();
    bootstrap_timer_.cancel();
    wakeup_timer_.cancel();
    history_timer_.cancel();
    replay_timer_.cancel();
    flush_timer_.cancel();
    resolver_.cancel();
    links_->stop();
    pending_.clear();
    found_.clear();
    io_.stop();
}

StatusInfo Runtime::status() const {
    auto const& dht = engine_->dht();
    auto const t = now();
    StatusInfo s;
    s.node_id = dht.id();
    for (auto const& l : sockets_) s.listen.push_back(l->local.to_string());
    s.api = api_->local_endpoint().to_string();
    s.metrics = metrics_address();
    s.peers = dht.peer_count();
    s.active_peers = dht.active_peer_count(t);
    s.records = dht.record_count();
    s.lookups_in_flight = dht.lookups_in_flight();
    s.uptime_s = core::to_seconds(t.since_origin);
    s.version = version();
    return s;
}

std::vector<PeerRow> Runtime::peers() const {
    auto const t = now();
    std::vector<PeerRow> rows;
    for (auto const& p : engine_->dht().peers()) {
        PeerRow r;
        r.id = p.contact.id;
        r.address = p.contact.address.to_string();
        r.last_seen_s_ago = std::chrono::duration_cast<std::chrono::seconds>(t - p.last_seen).count();
        r.failures = p.failures;
        rows.push_back(std::move(r));
    }
    return rows;
}

ApiError publish_error(pubsub::PublishError e, std::size_t payload_max) {
    switch (e) {
        case pubsub::PublishError::too_large:
            return {413, "the message is larger than " + std::to_string(payload_max) + " bytes"};
        case pubsub::PublishError::too_many_topics:
            return {507, "this node is in as many topics as it may be (unsubscribe from one first)"};
        case pubsub::PublishError::bad_topic: break;
    }
    return {400, "bad topic name"};
}

core::Result<PublishInfo, ApiError> Runtime::publish(std::string const& topic, core::Bytes payload) {
    auto r = engine_->publish(now(), topic, payload);
    after_input();
    if (!r) return core::Err(publish_error(r.error(), engine_config_.pubsub.limits.payload_max));
    auto const& p = r.value();
    return PublishInfo{p.id, p.seqno, p.ts_ms, p.peers};
}

void Runtime::publish_durable(std::string const& topic, core::Bytes payload, bool wait_durable, PublishDone done) {
    // A cheap pre-check first, so a full store refuses before the message goes out.
    if (!messages_->has_room(payload.size() + pubsub::envelope_overhead)) {
        log_store_full("the map (or the history size limit) leaves no room");
        return done(core::Err(ApiError{507, "the node's message store is full: the message was not published "
                                            "(raise --map-size-mb, or wait for retention to free room)"}));
    }
    begin_input_batch();
    // During a background commit the message store keeps this publish's rows in memory
    // (they reach a batch when the commit ends): hold its outputs until they are committed.
    if (wait_durable && (background_ || messages_->has_deferred())) durable_kept_ = true;
    auto r = engine_->publish(now(), topic, payload);
    // A durable publish commits at once (posted: concurrent ones share it); an accepted-only
    // one is written behind like a received message (the flush timer commits it).
    auto end_input = [&] {
        if (!wait_durable) mark_written_behind();
        after_input();
        if (wait_durable) schedule_publish_commit();
    };
    if (!r) {
        end_input();
        return done(core::Err(publish_error(r.error(), engine_config_.pubsub.limits.payload_max)));
    }
    auto& receipt = r.value();
    // The router stores messages of subscribed topics itself (then this is a duplicate);
    // the outbox row joins the same batch, so both commit together.
    auto const status = messages_->put(receipt.message);
    bool const kept = status == pubsub::StoreStatus::stored || status == pubsub::StoreStatus::duplicate;
    bool const queued = kept && messages_->outbox_add(receipt.id, topic);
    end_input();
    if (!queued) {
        // It may have reached peers already; the publisher still learns it is not durable.
        bool const full = status == pubsub::StoreStatus::full || store_->last_error().find("full") != std::string::npos;
        log_store_full(store_->last_error());
        return done(core::Err(full ? ApiError{507, "the node's message store is full: the message is not stored "
                                                   "(raise --map-size-mb, or wait for retention to free room)"}
                                   : ApiError{503, "the message could not be stored (" + store_->last_error() + ")"}));
    }
    outbox_->added(now(), receipt.id, topic, receipt.peers);
    PublishInfo info{receipt.id, receipt.seqno, receipt.ts_ms, receipt.peers};
    if (!wait_durable) return done(std::move(info));
    waiting_publishes_.push_back({std::move(info), std::move(done)});
}

void Runtime::schedule_publish_commit() {
    if (commit_posted_ || (!store_->in_batch() && !durable_kept_)) return;
    commit_posted_ = true;
    // Posted twice: the first hop lets the handlers already queued (other clients'
    // requests) join the batch, the second runs after the reactor's next poll.
    asio::post(io_, [this] {
        asio::post(io_, [this] {
            commit_posted_ = false;
            if (stopping_) return;
            // On the writer thread; while one commit runs, the next starts when it ends
            // (after_background_commit).
            if (!background_ && (store_->in_batch() || durable_kept_)) start_background_commit();
            arm_wakeup();
        });
    });
}

void Runtime::log_store_full(std::string const& what) {
    ++publishes_refused_;
    auto const wall = Clock::now();
    if (wall - last_full_log_ < 10s) return;
    spdlog::error("store: the message store is full; {} publish(es) refused ({}); stored messages stay readable and "
                  "the node keeps relaying",
                  publishes_refused_ - publishes_refused_logged_, what);
    publishes_refused_logged_ = publishes_refused_;
    last_full_log_ = wall;
}

core::Result<HistoryPage, ApiError> Runtime::history(HistoryQuery const& query) {
    make_messages_readable();
    return query_history(*messages_, query);
}

core::Result<std::shared_ptr<EventStream>, ApiError> Runtime::open_stream_from(std::string const& topic,
                                                                             std::optional<pubsub::StoreCursor> after) {
    if (auto r = subscribe(topic); !r) return core::Err(r.error());
    auto& feeds = event_streams_[topic];
    std::erase_if(feeds, [](auto const& f) { return f.gone(); });
    constexpr std::size_t streams_per_topic_max = 256;
    if (feeds.size() >= streams_per_topic_max)
        return core::Err(ApiError{503, "too many event-stream clients on this topic"});
    auto stream = std::make_shared<EventStream>(topic, event_stream_bytes_max);
    feeds.emplace_back(stream, pubsub::topic_key(topic), after);
    if (after) {
        make_messages_readable();
        feeds.back().pump(*messages_);
        arm_replay();
    }
    return stream;
}

void Runtime::arm_replay() {
    if (replay_armed_) return;
    replay_armed_ = true;
    replay_timer_.expires_after(replay_interval);
    replay_timer_.async_wait([this](boost::system::error_code ec) {
        replay_armed_ = false;
        if (ec || stopping_) return;
        bool more = false;
        for (auto& [topic, feeds] : event_streams_) {
            for (auto& feed : feeds) {
                if (!feed.replaying()) continue;
                make_messages_readable();
                feed.pump(*messages_);
                more = more || feed.replaying();
            }
        }
        if (more) arm_replay();
    });
}

void Runtime::arm_flush() {
    if (flush_armed_ || stopping_ || (records_->queued() == 0 && !(store_->in_batch() && behind_ > 0))) return;
    flush_armed_ = true;
    flush_timer_.expires_after(flush_interval);
    flush_timer_.async_wait([this](boost::system::error_code ec) {
        flush_armed_ = false;
        if (ec || stopping_) return;
        flush_in_background();
        arm_wakeup();
    });
}

void Runtime::flush_records() {
    make_messages_readable();
    settle_batch();
    release_finished();
    if (records_->queued() == 0) return;
    auto const started = Clock::now();
    auto const lost_before = records_->counts().lost;
    auto flushed = records_->flush();
    if (exporter_) exporter_->observe_store_commit(std::chrono::duration<double>(Clock::now() - started).count());
    if (!flushed || records_->counts().lost > lost_before) {
        // The records are lost from this replica (their STOREs were answered): the putter's
        // republish and the other replicas cover them. Logged with the commit failures.
        ++commit_failures_;
        log_commit_failures();
    }
}

void Runtime::flush_in_background() {
    if (background_) return;  // the timer is armed again by the writes that follow
    begin_input_batch();
    records_->release_flushed();  // only this flush's records are to be read from memory
    auto const lost_before = records_->counts().lost;
    auto flushed = records_->flush();  // into the batch: committed with it
    if (!flushed || records_->counts().lost > lost_before) {
        ++commit_failures_;
        log_commit_failures();
    }
    start_background_commit();
    if (!background_ && !store_->in_batch()) expire_messages();
}

void Runtime::start_background_commit() {
    CORE_ASSERT(!background_);
    make_messages_readable();  // kept writes (durable publishes' rows too) join this batch
    if (!store_->in_batch()) store_->begin_batch();
    BackgroundCommit commit;
    commit.detached = store_->detach_batch();
    commit.started = Clock::now();
    behind_ = 0;
    durable_kept_ = false;
    // What waited for this batch now waits for this commit; outputs produced meanwhile go
    // out at once (they wait for nothing in it).
    commit.publishes = std::exchange(waiting_publishes_, {});
    commit.transmits = std::exchange(held_transmits_, {});
    commit.events = std::exchange(held_events_, {});
    if (commit.detached.txn == nullptr) {  // nothing was uncommitted: committed (or aborted) here
        finish_commit(std::move(commit), 0);
        release_finished();
        return;
    }
    auto promise = std::make_shared<std::promise<int>>();
    commit.result = promise->get_future();
    background_ = std::move(commit);
    asio::post(writer_, [this, txn = background_->detached.txn, promise] {
        promise->set_value(store::LmdbStore::commit_detached(txn));
        asio::post(io_, [this] { after_background_commit(); });
    });
}

void Runtime::close_background_commit() {
    if (!background_) return;
    auto const rc = background_->result.get();  // waits while the writer thread commits
    auto commit = std::move(*background_);
    background_.reset();
    finish_commit(std::move(commit), rc);
}

void Runtime::finish_commit(BackgroundCommit&& commit, int rc) {
    bool committed = !commit.detached.error;
    if (commit.detached.txn != nullptr) {
        committed = store_->finish_detached(commit.detached, rc) && committed;
        if (exporter_)
            exporter_->observe_store_commit(std::chrono::duration<double>(Clock::now() - commit.started).count());
    }
    records_->release_flushed();
    if (!committed) {
        // The batch's records are lost. Written-behind ones (received messages, DHT
        // records) are covered by catch-up, republish and the other replicas; what waited
        // for them is refused or withheld when released.
        ++commit_failures_;
        log_commit_failures();
    }
    finished_.push_back(Finished{committed, std::move(commit.publishes), std::move(commit.transmits),
                                 std::move(commit.events)});
}

void Runtime::release_finished() {
    auto groups = std::exchange(finished_, {});
    for (auto& g : groups) {
        for (auto& p : g.publishes) {
            if (g.committed) p.done(std::move(p.info));
            else p.done(core::Err(ApiError{503, "the message could not be written to disk (" + store_->last_error() + ")"}));
        }
        if (g.committed) {
            for (auto const& t : g.transmits) send(t);
        } else {
            answers_withheld_ += g.transmits.size();  // they may acknowledge lost records
        }
        for (auto& e : g.events) on_event(e);
    }
    if (!groups.empty()) links_->flush();
}

void Runtime::make_messages_readable() {
    close_background_commit();
    if (!messages_->has_deferred()) return;
    bool const was_holding = store_->in_batch() && holding();
    begin_input_batch();
    auto const lost_before = messages_->deferred_lost();
    messages_->apply_deferred();
    if (auto const lost = messages_->deferred_lost() - lost_before; lost > 0)
        spdlog::error("store: {} message write(s) made during a background commit failed afterwards ({}); "
                      "catch-up fetches missing messages again",
                      lost, store_->last_error());
    // Written behind like the receives they are, unless the batch already holds puts that
    // outputs wait for (then its commit is scheduled, as after any input).
    if (was_holding) schedule_publish_commit();
    else mark_written_behind();
    arm_flush();
}

void Runtime::after_background_commit() {
    if (stopping_) return;
    close_background_commit();
    release_finished();
    if (!store_->in_batch()) expire_messages();
    make_messages_readable();
    // Publishes (or other outputs) that waited while this commit ran: commit them next.
    if (!waiting_publishes_.empty() || holding()) start_background_commit();
    arm_wakeup();
}

void Runtime::arm_history() {
    history_timer_.expires_after(history_interval);
    history_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) return;
        history_tick();
        arm_history();
    });
}

void Runtime::expire_messages() {
    auto const expired = messages_->expire(wall_ms(), expire_budget);
    if (expired > 0) spdlog::debug("store: {} message(s) expired by retention", expired);
}

void Runtime::history_tick() {
    // Expiry runs outside a batch. A batch link input left open is not committed here: the
    // flush timer commits it within flush_interval and expires then, so a busy node makes
    // one commit a second, not two.
    if (!store_->in_batch() && !background_) expire_messages();
    // The outbox's sends and removals share one batch (one commit): their own, or the open
    // one (then a commit is scheduled when they wrote, as for any input).
    bool const own_batch = !store_->in_batch();
    if (own_batch) store_->begin_batch();
    auto const waiting = outbox_->size();
    outbox_->tick(now(), wall_ms(), [this](std::string const& topic, pubsub::Message const& message) {
        auto r = engine_->republish(now(), topic, message);
        return r ? std::optional<std::size_t>(r.value().peers) : std::nullopt;
    });
    if (waiting > 0 && outbox_->size() == 0)
        spdlog::info("outbox: every published message reached a peer ({} resent after a restart, {} given up)",
                     outbox_->counts().resent, outbox_->counts().dropped);
    if (own_batch) {
        drain_outputs();
        end_batch();
        arm_wakeup();
    } else {
        after_input();
    }
}

core::Result<void, ApiError> Runtime::subscribe(std::string const& topic) {
    auto r = engine_->subscribe(now(), topic);
    after_input();
    if (!r) return core::Err(publish_error(r.error(), engine_config_.pubsub.limits.payload_max));
    if (std::find(subscriptions_.begin(), subscriptions_.end(), topic) == subscriptions_.end()) {
        subscriptions_.push_back(topic);
        save_subscriptions();
    }
    return {};
}

void Runtime::unsubscribe(std::string const& topic) {
    engine_->unsubscribe(now(), topic);
    after_input();
    if (std::erase(subscriptions_, topic) > 0) save_subscriptions();
    // Open streams of the topic end: their client asked for a topic the node left.
    if (auto it = event_streams_.find(topic); it != event_streams_.end()) {
        for (auto& feed : it->second) feed.stream().client_gone();
        event_streams_.erase(it);
    }
}

std::vector<TopicRow> Runtime::topics() const {
    std::vector<TopicRow> rows;
    for (auto const& t : engine_->pubsub().topics())
        rows.push_back({t.name, t.subscribed, t.mesh_peers, t.known_peers, t.delivered});
    return rows;
}

core::Result<std::shared_ptr<EventStream>, ApiError> Runtime::open_stream(std::string const& topic) {
    return open_stream_from(topic, std::nullopt);
}

// DATA/subscriptions: one percent-encoded topic name per line, rewritten atomically on
// every change, so subscriptions survive a restart (and a crash).
void Runtime::load_subscriptions() {
    std::ifstream in(config_.data_dir / "subscriptions");
    if (!in) return;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line) && n < 4096) {
        ++n;
        auto topic = percent_decode(line);
        if (!topic || topic_name_error(*topic)) {
            spdlog::warn("subscriptions: ignoring a bad line in {}", (config_.data_dir / "subscriptions").string());
            continue;
        }
        if (auto r = engine_->subscribe(now(), *topic); !r) {
            spdlog::warn("subscriptions: cannot resubscribe to {}", *topic);
            continue;
        }
        subscriptions_.push_back(*topic);
        drain_outputs();
    }
    if (!subscriptions_.empty()) spdlog::info("subscriptions: resubscribed to {} topic(s)", subscriptions_.size());
}

void Runtime::save_subscriptions() {
    std::string text;
    for (auto const& t : subscriptions_) text += percent_encode(t) + "\n";
    std::string error;
    if (!write_file_atomic(config_.data_dir / "subscriptions", text, 0600, error))
        spdlog::error("subscriptions: cannot save: {}", error);
}

}  // namespace

int run_node(NodeConfig const& config) {
    // A file-size limit (ulimit -f, systemd's LimitFSIZE) then fails a write past it with
    // EFBIG, which the store handles like a full disk (the commit fails, is logged and
    // counted, durable publishes are refused). By default SIGXFSZ would kill the node.
    std::signal(SIGXFSZ, SIG_IGN);
    auto runtime = std::make_unique<Runtime>(config);
    if (auto started = runtime->start(); !started) {
        std::fprintf(stderr, "kadmium: %s\n", started.error().c_str());
        return 1;
    }
    runtime->run();
    runtime->abandon_exporter();
    runtime.reset();
    spdlog::info("stopped");
    return 0;
}

}  // namespace node
