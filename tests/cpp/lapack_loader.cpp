// Test main: registers SciPy's BLAS/LAPACK routines (the library found at configure time by
// find_lapack.py) the way the Python module does from SciPy's capsules, then runs the tests.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "rankwise/lapack.hpp"
#include "test_support.hpp"

namespace rankwise::test {
namespace {
cpu::ThreadsSetter threads_setter = nullptr;
}

cpu::ThreadsSetter loaded_threads_setter() { return threads_setter; }

namespace {

bool load_lapack(const char* path, const std::string& prefix) {
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
        std::fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
        return false;
    }
    for (const auto& name : lapack::required_routines()) {
        void* fn = dlsym(lib, (prefix + name + "_").c_str());
        if (fn == nullptr) {
            std::fprintf(stderr, "%s has no %s%s_\n", path, prefix.c_str(), name.c_str());
            return false;
        }
        lapack::register_routine(name, fn);
    }
    for (const char* setter : {"openblas_set_num_threads_local",
                               "scipy_openblas_set_num_threads_local",
                               "mkl_set_num_threads_local"}) {
        if (void* set = dlsym(lib, setter)) {
            threads_setter = reinterpret_cast<cpu::ThreadsSetter>(set);
            cpu::register_blas_threads_setter(threads_setter);
            break;
        }
    }
    return true;  // the library stays loaded for the whole run
}

}  // namespace
}  // namespace rankwise::test

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    if (!rankwise::test::load_lapack(RANKWISE_TEST_LAPACK_PATH, RANKWISE_TEST_LAPACK_PREFIX))
        return 2;
    return RUN_ALL_TESTS();
}
