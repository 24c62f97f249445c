/** Test fixture: a worker module that fails while loading (exercises the in-thread fallbacks). */
throw new Error("this worker fails to start (test fixture)");
