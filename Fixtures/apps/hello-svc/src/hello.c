/* hello-svc: a tiny static program with a long-running mode, packaged by apkit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *greeting(void) {
    const char *g = getenv("GREETING");
    return (g && *g) ? g : "Hello";
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "once";
    if (strcmp(mode, "serve") == 0) {
        /* The service: one line every INTERVAL seconds (default 5), as s6 would log it. */
        const char *iv = getenv("INTERVAL");
        int interval = iv ? atoi(iv) : 5;
        if (interval < 1) interval = 1;
        for (;;) {
            printf("%s from hello-svc (pid %d)\n", greeting(), (int)getpid());
            fflush(stdout);
            sleep((unsigned)interval);
        }
    }
    if (strcmp(mode, "greet") == 0 || strcmp(mode, "once") == 0) {
        printf("%s, %s!\n", greeting(), argc > 2 ? argv[2] : "world");
        return 0;
    }
    if (strcmp(mode, "--version") == 0) {
        printf("hello-svc %s\n", HELLO_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: hello-svc [once|greet NAME|serve|--version]\n");
    return 2;
}
