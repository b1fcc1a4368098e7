/* The pod sandbox's process: holds the pod's namespaces, reaps the
   orphans of a shared pid namespace, exits on SIGTERM or SIGINT. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void done(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) ; }
int main(void) {
	signal(SIGTERM, done);
	signal(SIGINT, done);
	signal(SIGCHLD, reap);
	for (;;) pause();
}
