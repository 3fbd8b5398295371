// The one definition of to_string(StoreError), shared by every store implementation
// (compiled into store_mem, which store_lmdb links).
#include "store/store.hpp"

namespace store {

char const* to_string(StoreError e) {
    switch (e) {
        case StoreError::full: return "full";
        case StoreError::io: return "io";
        case StoreError::corrupt: return "corrupt";
        case StoreError::injected: return "injected";
    }
    return "unknown";
}

}  // namespace store
