// A C++ thread_local object with a destructor: its constructor runs on first use, its destructor at exit (the one
// thread's exit is the program's), after main returns and before static objects are destroyed.
#include <cstdio>
#include <string>

struct Logger {
    std::string name;
    int lines = 0;
    explicit Logger(const char *n) : name(n) { std::printf("%s: constructed\n", name.c_str()); }
    ~Logger() { std::printf("%s: destroyed after %d lines\n", name.c_str(), lines); }
    void log(const char *text) { std::printf("%s[%d]: %s\n", name.c_str(), ++lines, text); }
};

struct Global {
    ~Global() { std::printf("global: destroyed\n"); }
} global;

thread_local Logger logger("thread-log");

int main() {
    std::printf("main: start\n");
    logger.log("first");
    logger.log("second");
    std::printf("main: end\n");
    return 0;
}
