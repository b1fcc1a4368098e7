package main

// glibc gives each thread that first calls malloc an arena of its own
// (mmap, mprotect, and munmap of the unaligned ends, on every run): berth
// allocates through cgo on a handful of threads, once each, so one arena
// is all it needs. Set in a constructor, before Go's runtime starts a
// thread.

/*
#include <malloc.h>

__attribute__((constructor)) static void berth_one_arena(void) {
	mallopt(M_ARENA_MAX, 1);
}
*/
import "C"
