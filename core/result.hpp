// A value or an error, for operating errors (store, config, I/O) until std::expected.
// Remote errors are not Results: they are counted drops (STYLE.md, section 7).
#pragma once

#include "core/assert.hpp"

#include <utility>
#include <variant>

namespace core {

template <class E>
struct Err {
    // A constructor, not an aggregate: clang 14 has no parenthesised aggregate init.
    explicit Err(E e) : error(std::move(e)) {}
    E error;
};
template <class E>
Err(E) -> Err<E>;

template <class T, class E>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    template <class E2>
    Result(Err<E2> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { CORE_ASSERT(ok()); return std::get<0>(v_); }
    T const& value() const& { CORE_ASSERT(ok()); return std::get<0>(v_); }
    T&& value() && { CORE_ASSERT(ok()); return std::get<0>(std::move(v_)); }
    E const& error() const { CORE_ASSERT(!ok()); return std::get<1>(v_); }

private:
    std::variant<T, E> v_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
public:
    Result() = default;
    template <class E2>
    Result(Err<E2> e) : error_(std::move(e.error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    E const& error() const { CORE_ASSERT(!ok_); return error_; }

private:
    E error_{};
    bool ok_ = true;
};

}  // namespace core
