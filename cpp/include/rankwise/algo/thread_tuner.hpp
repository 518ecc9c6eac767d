// Picks the number of threads for a loop of many short, synchronizing passes (CG).
//
// Each CG iteration has several synchronization points (the product, two reductions, the
// direction update).  On free cores they cost about a microsecond each and all threads
// help; on a machine where other processes compete for the cores, a thread that the
// scheduler has put aside holds the others at the next barrier (while they spin) for up to
// a time slice, and one thread is then many times faster (measured on the shared 2-core
// development machine: 30 ms against 0.1 ms per iteration).  Neither case can be told in
// advance, so the loop measures: a window of iterations on one thread, then a window on all
// threads, abandoned as soon as it has cost more than the one-thread window; the faster
// count is kept for an interval that doubles each time the same count wins again (1 s up
// to 16 s).  The decision is shared by all solves of the process, so a sequence of short
// solves does not pay for a measurement each.  The backend's reductions do not depend on
// the number of threads, so this changes the time of a solve, never its result.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>

namespace rankwise {

// The backend's loops on one thread while alive, if `one` (small work, where a parallel
// region on busy cores costs more than it saves); the caller's count again at the end, so
// threadpoolctl / OMP_NUM_THREADS limits are kept.  Used where the choice follows from the
// sizes alone (updates, small DEIMs); ThreadTuner below measures instead.
template <class Backend>
class OneThreadIf {
   public:
    OneThreadIf(const Backend& be, bool one)
        : be_(be), before_(be.max_threads()), changed_(one && before_ > 1) {
        if (changed_) be_.set_threads(1);
    }
    ~OneThreadIf() {
        if (changed_) be_.set_threads(before_);
    }
    OneThreadIf(const OneThreadIf&) = delete;
    OneThreadIf& operator=(const OneThreadIf&) = delete;

   private:
    const Backend& be_;
    int before_;
    bool changed_;
};

namespace detail {
struct ThreadChoice {
    std::mutex lock;
    int threads = 1;  // the count last chosen
    std::chrono::steady_clock::time_point until{};  // kept until then
    double keep_seconds = 1.0;
};
inline ThreadChoice& thread_choice() {
    static ThreadChoice choice;
    return choice;
}
}  // namespace detail

template <class Backend>
class ThreadTuner {
   public:
    explicit ThreadTuner(const Backend& be) : be_(be), full_(be.max_threads()) {
        if (full_ <= 1) return;
        auto& c = detail::thread_choice();
        std::lock_guard<std::mutex> g(c.lock);
        if (clock::now() < c.until) {
            begin(Phase::Keep, c.threads);
        } else {
            begin(Phase::MeasureOne, 1);
        }
    }
    ThreadTuner(const ThreadTuner&) = delete;
    ThreadTuner& operator=(const ThreadTuner&) = delete;
    ~ThreadTuner() { be_.set_threads(full_); }  // the caller's count again

    // Call once after every iteration.
    void step() {
        if (full_ <= 1) return;
        const auto now = clock::now();
        const double elapsed = seconds(now - start_);
        ++count_;
        switch (phase_) {
            case Phase::MeasureOne:
                if (count_ < kWindow) return;
                per_one_ = elapsed / count_;
                begin(Phase::MeasureFull, full_);
                return;
            case Phase::MeasureFull:
                if (elapsed > kWindow * per_one_) {
                    decide(1);  // already slower than the one-thread window
                } else if (count_ >= kWindow) {
                    decide(full_);
                }
                return;
            case Phase::Keep: {
                auto& c = detail::thread_choice();
                std::lock_guard<std::mutex> g(c.lock);
                if (now >= c.until) begin(Phase::MeasureOne, 1);
                return;
            }
        }
    }

   private:
    using clock = std::chrono::steady_clock;
    enum class Phase { MeasureOne, MeasureFull, Keep };
    static constexpr int kWindow = 8;  // iterations per measurement

    static double seconds(clock::duration d) { return std::chrono::duration<double>(d).count(); }

    void begin(Phase p, int threads) {
        phase_ = p;
        count_ = 0;
        be_.set_threads(threads);
        start_ = clock::now();
    }

    void decide(int threads) {
        auto& c = detail::thread_choice();
        {
            std::lock_guard<std::mutex> g(c.lock);
            c.keep_seconds = threads == c.threads ? std::min(2 * c.keep_seconds, 16.0) : 1.0;
            c.threads = threads;
            c.until = clock::now() + std::chrono::duration_cast<clock::duration>(
                                         std::chrono::duration<double>(c.keep_seconds));
        }
        begin(Phase::Keep, threads);
    }

    const Backend& be_;
    int full_;
    Phase phase_ = Phase::MeasureOne;
    int count_ = 0;
    clock::time_point start_ = clock::now();
    double per_one_ = 0;
};

}  // namespace rankwise
