// Opens the node's LMDB record store for a store test, failing the test with the error if
// it cannot. One place for the three store test files; not a fixture.
#pragma once

#include "store/lmdb_store.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>

namespace test {

inline constexpr std::size_t lmdb_map_size = 64 * 1024 * 1024;

inline std::unique_ptr<store::LmdbStore> open_lmdb_ok(std::filesystem::path const& dir,
                                                      std::size_t size = lmdb_map_size) {
    auto r = store::LmdbStore::open(dir, size);
    if (!r) FAIL("open failed: " << r.error());
    return std::move(r).value();
}

}  // namespace test
