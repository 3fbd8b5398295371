// Corpus replay for a libFuzzer target, for builds without libFuzzer (any compiler): feeds
// every regular file under each directory given (or each file given), in name order, to the
// target's LLVMFuzzerTestOneInput, as `fuzzer DIR` would without mutating. A crash, an abort
// or a sanitizer report fails the run as it would under libFuzzer; finding no input at all
// fails too (exit 1), so an emptied or misplaced corpus is noticed. Not a fuzzer: it never
// generates inputs (see CMakeLists.txt here for the libFuzzer build).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

namespace {

// Inputs larger than this are skipped (and reported): libFuzzer's default -max_len is far
// below it, and a checked-in corpus file this big is a mistake.
constexpr std::uintmax_t input_size_max = 1 << 20;

std::vector<std::filesystem::path> inputs_of(std::filesystem::path const& arg) {
    std::vector<std::filesystem::path> out;
    if (std::filesystem::is_regular_file(arg)) {
        out.push_back(arg);
    } else if (std::filesystem::is_directory(arg)) {
        for (auto const& e : std::filesystem::recursive_directory_iterator(arg))
            if (e.is_regular_file()) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t ran = 0;
    for (int a = 1; a < argc; ++a) {
        for (auto const& path : inputs_of(argv[a])) {
            if (std::filesystem::file_size(path) > input_size_max) {
                std::fprintf(stderr, "skipped (over %ju bytes): %s\n", input_size_max, path.c_str());
                continue;
            }
            std::ifstream in(path, std::ios::binary);
            std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            // A copy of exactly the input's size, so that ASan sees any read past its end.
            std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
            LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
            ++ran;
        }
    }
    std::fprintf(stderr, "%zu input(s) replayed\n", ran);
    return ran > 0 ? 0 : 1;
}
