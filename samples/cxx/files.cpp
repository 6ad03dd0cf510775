// File streams and std::filesystem over a directory given on the command line (WasiRun preopens it): what Debian's
// prebuilt libc++ for wasm32 leaves out (_LIBCPP_HAS_FILESYSTEM 0) and the runtime of WASI_CXX_EXCEPTIONS has.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: files DIR\n";
        return 2;
    }
    const fs::path dir = argv[1];
    fs::create_directory(dir / "sub");
    {
        std::ofstream out(dir / "notes.txt");
        out << "first line\nsecond line\n";
    }
    std::ofstream(dir / "sub" / "empty.txt").close();

    std::ifstream in(dir / "notes.txt");
    std::string line;
    int count = 0;
    while (std::getline(in, line)) std::cout << "read: " << line << "\n", ++count;
    std::cout << "lines: " << count << ", bytes: " << fs::file_size(dir / "notes.txt") << "\n";

    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(dir))
        names.push_back(entry.path().filename().string() + (entry.is_directory() ? "/" : ""));
    std::sort(names.begin(), names.end());
    for (const auto &name : names) std::cout << "entry: " << name << "\n";

    std::vector<std::string> all;
    for (const auto &entry : fs::recursive_directory_iterator(dir))
        all.push_back(fs::relative(entry.path(), dir).generic_string());
    std::sort(all.begin(), all.end());
    for (const auto &name : all) std::cout << "tree: " << name << "\n";

    fs::rename(dir / "notes.txt", dir / "renamed.txt");
    std::cout << "renamed: " << fs::exists(dir / "renamed.txt") << " " << fs::exists(dir / "notes.txt") << "\n";
    std::cout << "removed: " << fs::remove(dir / "renamed.txt") << "\n";
    std::error_code ec;
    (void)fs::file_size(dir / "missing.txt", ec);
    std::cout << "missing: " << (ec == std::errc::no_such_file_or_directory) << "\n";
    try {
        (void)fs::file_size(dir / "missing.txt");
    } catch (const fs::filesystem_error &e) {
        std::cout << "caught filesystem_error: " << (e.code() == std::errc::no_such_file_or_directory) << "\n";
    }
    std::cout << "removed: " << fs::remove_all(dir / "sub") << "\n";
    return 0;
}
