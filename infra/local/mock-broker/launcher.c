/*
 * A Kafka-protocol broker for tests and local runs: librdkafka's mock
 * cluster (Debian's librdkafka-dev), kept up until SIGTERM/SIGINT. No Kafka
 * broker is installable on these machines (see ../../../README.md, "Engines").
 *
 *   mock-broker [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH]
 *               [--control-fifo PATH]
 *
 * Prints "BOOTSTRAP <host:port,...>" once the topics exist. Fault injection,
 * one command a line, on stdin (when it is a pipe or socket) and on the control FIFO:
 *   down <id>|all    up <id>|all    rtt <id>|all <ms>
 *   error <api-key> <error-code> [count]   (the next count requests of that API fail with that code)
 * Broker ids start at 1. EOF on stdin is not a reason to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static void die(const char *msg) {
  fprintf(stderr, "mock-broker: %s\n", msg);
  exit(1);
}

static void apply_command(rd_kafka_mock_cluster_t *mc, int brokers, char *line) {
  char verb[16] = {0}, target[16] = {0};
  int ms = 0;
  int n = sscanf(line, "%15s %15s %d", verb, target, &ms);
  if (n >= 3 && strcmp(verb, "error") == 0) {
    int count = 1;
    sscanf(line, "%*s %*s %*d %d", &count);
    if (count < 1 || count > 64) count = 1;
    rd_kafka_resp_err_t errs[64];
    for (int i = 0; i < count; i++) errs[i] = (rd_kafka_resp_err_t)ms;
    rd_kafka_mock_push_request_errors_array(mc, (int16_t)atoi(target), (size_t)count, errs);
    fprintf(stderr, "mock-broker: error api %s code %d x%d\n", target, ms, count);
    return;
  }
  if (n < 2) {
    if (n > 0) fprintf(stderr, "mock-broker: ignored command: %s\n", line);
    return;
  }
  int first = 1, last = brokers;
  if (strcmp(target, "all") != 0) first = last = atoi(target);
  if (first < 1 || last > brokers) {
    fprintf(stderr, "mock-broker: no broker %s\n", target);
    return;
  }
  for (int id = first; id <= last; id++) {
    rd_kafka_resp_err_t err;
    if (strcmp(verb, "down") == 0) err = rd_kafka_mock_broker_set_down(mc, id);
    else if (strcmp(verb, "up") == 0) err = rd_kafka_mock_broker_set_up(mc, id);
    else if (strcmp(verb, "rtt") == 0 && n == 3) err = rd_kafka_mock_broker_set_rtt(mc, id, ms);
    else {
      fprintf(stderr, "mock-broker: unknown command: %s\n", line);
      return;
    }
    fprintf(stderr, "mock-broker: %s %d%s%s\n", verb, id, err ? ": " : "", err ? rd_kafka_err2str(err) : "");
  }
}

/* Reads what is available on fd, applying every complete line. */
static int drain(int fd, char *buf, size_t *len, size_t cap, rd_kafka_mock_cluster_t *mc, int brokers) {
  ssize_t got = read(fd, buf + *len, cap - *len - 1);
  if (got <= 0) return (int)got;
  *len += (size_t)got;
  buf[*len] = '\0';
  char *start = buf, *nl;
  while ((nl = strchr(start, '\n')) != NULL) {
    *nl = '\0';
    apply_command(mc, brokers, start);
    start = nl + 1;
  }
  *len = strlen(start);
  memmove(buf, start, *len + 1);
  if (*len >= cap - 1) *len = 0; /* an absurdly long line: drop it */
  return (int)got;
}

int main(int argc, char **argv) {
  int brokers = 1;
  const char *bootstrap_file = NULL, *fifo_path = NULL;
  const char *topics[64];
  int topic_count = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) brokers = atoi(argv[++i]);
    else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc && topic_count < 64) topics[topic_count++] = argv[++i];
    else if (strcmp(argv[i], "--bootstrap-file") == 0 && i + 1 < argc) bootstrap_file = argv[++i];
    else if (strcmp(argv[i], "--control-fifo") == 0 && i + 1 < argc) fifo_path = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--brokers N] [--topic NAME:PARTITIONS]... [--bootstrap-file PATH] [--control-fifo PATH]\n", argv[0]);
      return 2;
    }
  }
  if (brokers < 1 || brokers > 16) die("--brokers must be 1..16");

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  /* MOCK_BROKER_DEBUG=mock (or any librdkafka debug context list): the mock's own trace on stderr. */
  const char *debug = getenv("MOCK_BROKER_DEBUG");
  if (debug && *debug) {
    rd_kafka_conf_set(conf, "log_level", "7", errstr, sizeof(errstr));
    if (rd_kafka_conf_set(conf, "debug", debug, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) die(errstr);
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) die(errstr);
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) die("could not create the mock cluster");

  for (int i = 0; i < topic_count; i++) {
    char name[256];
    int partitions = 1;
    const char *colon = strrchr(topics[i], ':');
    size_t len = colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);
    if (len == 0 || len >= sizeof(name)) die("bad --topic");
    memcpy(name, topics[i], len);
    name[len] = '\0';
    if (colon) partitions = atoi(colon + 1);
    if (partitions < 1) die("partitions must be >= 1");
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3);
    if (err) die(rd_kafka_err2str(err));
  }

  const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
  if (bootstrap_file) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", bootstrap_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", bootstraps) < 0 || fclose(f) != 0 || rename(tmp, bootstrap_file) != 0)
      die("could not write the bootstrap file");
  }
  printf("BOOTSTRAP %s\n", bootstraps);
  fflush(stdout);

  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  struct pollfd fds[2];
  int nfds = 0;
  int stdin_idx = -1, fifo_idx = -1;
  struct stat st;
  /* A pipe from a shell, or the socket pair Node.js gives a child for stdin. */
  if (fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
    stdin_idx = nfds;
    fds[nfds++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
  }
  if (fifo_path) {
    if (mkfifo(fifo_path, 0600) != 0 && errno != EEXIST) die("could not create the control FIFO");
    /* O_RDWR: we hold a writer ourselves, so the FIFO never reports EOF. */
    int fd = open(fifo_path, O_RDWR | O_NONBLOCK);
    if (fd < 0) die("could not open the control FIFO");
    fifo_idx = nfds;
    fds[nfds++] = (struct pollfd){.fd = fd, .events = POLLIN};
  }

  char bufs[2][4096];
  size_t lens[2] = {0, 0};
  while (!stop_requested) {
    int ready = poll(fds, (nfds_t)nfds, nfds > 0 ? 1000 : -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < nfds; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      int got = drain(fds[i].fd, bufs[i], &lens[i], sizeof(bufs[i]), mc, brokers);
      if (got == 0 && i == stdin_idx) fds[i].fd = -1; /* stdin closed: keep running */
    }
    (void)fifo_idx;
  }
  fprintf(stderr, "mock-broker: stopping\n");
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
