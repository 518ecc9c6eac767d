// Work-matrix storage (HostMatrix): buffers of kMinCachedBytes to kMaxBufferBytes go back to
// a small per-thread cache when their matrix goes, and the next matrix that fits takes one.
//
// Why: a freed buffer of a megabyte or more goes back to the kernel (munmap, or a trim of
// the heap's top), and the next one of that size faults in every page on first write.  The
// updater allocates its work matrices once per batch: on the benchmark's quick case (4000
// nodes, k = 32, batches of 200, one thread) that was 72 page faults per update, and the
// same process with malloc's trimming disabled ran 13% faster (2026-11-26).  With this
// cache and cpu/thread_scratch.hpp: 21 faults per update, 6% faster.  Larger buffers are
// left to malloc: its mmap threshold rises with them, and a 20000-node case (12 MB work
// matrices, k = 64) had 34 faults per update and no measurable gain from caching them.  At most
// kMaxCachedEntries buffers and kMaxCachedBytes bytes stay cached per thread; the cache is
// freed when its thread ends.
#include <sys/mman.h>
#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "rankwise/cpu_backend.hpp"

namespace rankwise::detail {
namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMinCachedBytes = std::size_t{1} << 16;
constexpr std::size_t kMaxBufferBytes = std::size_t{1} << 22;
constexpr std::size_t kMaxCachedBytes = std::size_t{1} << 24;  // per thread
constexpr std::size_t kMaxCachedEntries = 8;
constexpr std::size_t kAskMemoryBytes = std::size_t{1} << 30;

// Large buffers asked to be backed by transparent huge pages, as NumPy does for its arrays
// (numpy/_core/src/multiarray/alloc.c): where malloc serves them by mmap - always in a
// process with MALLOC_TRIM_THRESHOLD_ set, which dask's worker nannies set - each one
// otherwise costs a page fault per 4 KiB on first touch (measured on a 50000 x 200 @
// 200 x 30 product in such a process, one thread: 38 ms against 30 ms).  Advisory only.
void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::size_t kMinBytes = std::size_t{1} << 22;
    constexpr std::uintptr_t kPage = 4096;
    if (bytes < kMinBytes) return;
    const auto start = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t offset = (kPage - start % kPage) % kPage;
    madvise(reinterpret_cast<void*>(start + offset), bytes - offset, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

struct Cached {
    void* p;
    std::size_t bytes;
};

// Set once the thread's cache is destroyed (thread exit): a buffer freed after that, by a
// destructor that runs later in the thread's exit, is freed directly.
thread_local bool cache_destroyed = false;

class ThreadCache {
   public:
    ThreadCache() = default;
    ThreadCache(const ThreadCache&) = delete;
    ThreadCache& operator=(const ThreadCache&) = delete;
    ~ThreadCache() {
        for (const Cached& c : entries_) std::free(c.p);
        cache_destroyed = true;
    }

    // The smallest cached buffer of bytes to 2 x bytes, taken out of the cache; else nullptr.
    void* take(std::size_t bytes, std::size_t& capacity) {
        auto best = entries_.end();
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->bytes >= bytes && it->bytes <= 2 * bytes &&
                (best == entries_.end() || it->bytes < best->bytes))
                best = it;
        if (best == entries_.end()) return nullptr;
        void* p = best->p;
        capacity = best->bytes;
        total_ -= best->bytes;
        entries_.erase(best);
        return p;
    }

    // Keeps p unless it is too large for the cache; the oldest buffers make room.
    void give(void* p, std::size_t bytes) noexcept {
        if (bytes < kMinCachedBytes || bytes > kMaxBufferBytes) {
            std::free(p);
            return;
        }
        while (!entries_.empty() &&
               (entries_.size() >= kMaxCachedEntries || total_ + bytes > kMaxCachedBytes)) {
            std::free(entries_.front().p);
            total_ -= entries_.front().bytes;
            entries_.erase(entries_.begin());
        }
        try {
            entries_.push_back({p, bytes});
            total_ += bytes;
        } catch (...) {  // no room for the entry itself: free the buffer instead
            std::free(p);
        }
    }

   private:
    std::vector<Cached> entries_;
    std::size_t total_ = 0;
};

ThreadCache& cache() {
    thread_local ThreadCache c;
    return c;
}

}  // namespace

double host_memory_bytes() {
#if defined(__linux__)
    struct sysinfo info {};
    if (sysinfo(&info) == 0)
        return (double(info.totalram) + double(info.totalswap)) * double(info.mem_unit);
#endif
    return std::numeric_limits<double>::infinity();
}

void* take_host_buffer(std::size_t bytes, std::size_t& capacity) {
    if (bytes >= kMinCachedBytes && bytes <= kMaxBufferBytes && !cache_destroyed) {
        if (void* p = cache().take(bytes, capacity)) return p;
    }
    // More than the machine's memory and swap can never be filled; where the kernel
    // overcommits without limit (vm.overcommit_memory = 1) malloc would still return it, and
    // the process would be killed when the pages are touched.  (Asked from 1 GiB on: one
    // system call, not on the path of the many small matrices.)
    if (bytes > SIZE_MAX - kAlignment) return nullptr;
    if (bytes >= kAskMemoryBytes && double(bytes) > host_memory_bytes()) return nullptr;
    capacity = (std::max<std::size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, capacity);
    if (p != nullptr) advise_huge_pages(p, capacity);
    return p;
}

void give_host_buffer(void* p, std::size_t capacity) noexcept {
    if (p == nullptr) return;
    if (cache_destroyed) {
        std::free(p);
        return;
    }
    cache().give(p, capacity);
}

}  // namespace rankwise::detail
