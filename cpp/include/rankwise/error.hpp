// The package's exceptions and the `require(cond) << "message"` idiom (after RandLAPACK).
#pragma once

#include <new>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "rankwise/types.hpp"

namespace rankwise {

// Bad arguments or a state the algorithm cannot continue from; mapped to ValueError.
class Error : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A LAPACK routine reported failure (info != 0) where no fallback exists.
class LapackError : public Error {
    using Error::Error;
};

// A backend primitive that this build does not have (e.g. CUDA without nvcc).
class NotCompiled : public Error {
    using Error::Error;
};

// An allocation that cannot be made, with the size asked for (mapped to MemoryError; a
// std::bad_alloc so that code catching that still does).
class AllocationError : public std::bad_alloc {
   public:
    explicit AllocationError(std::string what) : what_(std::move(what)) {}
    const char* what() const noexcept override { return what_.c_str(); }

   private:
    std::string what_;
};

namespace detail {
// Collects a message with operator<< and throws Error when destroyed with a false condition.
// The stream exists only when the condition failed: checks in O(n) validation loops cost a
// comparison, not a stream construction.
class Requirement {
   public:
    explicit Requirement(bool ok) {
        if (!ok) msg_.emplace();
    }
    Requirement(const Requirement&) = delete;
    Requirement& operator=(const Requirement&) = delete;
    template <class V>
    Requirement& operator<<(const V& v) {
        if (msg_) *msg_ << v;
        return *this;
    }
    ~Requirement() noexcept(false) {
        if (msg_) throw Error(msg_->str());
    }

   private:
    std::optional<std::ostringstream> msg_;
};
}  // namespace detail

// Usage: require(n > 0) << "n must be positive, got " << n;
inline detail::Requirement require(bool cond) { return detail::Requirement(cond); }

// Every index[i] (i < count, host memory) in [0, bound), else Error "<op>: <kind> <value>
// out of range [0, bound)": the rows or columns a gather or scatter primitive visits.
inline void require_indices_in_range(const index_t* index, index_t count, index_t bound,
                                     const char* op, const char* kind) {
    for (index_t i = 0; i < count; ++i)
        require(index[i] >= 0 && index[i] < bound)
            << op << ": " << kind << " " << index[i] << " out of range [0, " << bound << ")";
}

}  // namespace rankwise
