/* probe.c — what the integration tests ask a running bridge (see probe.h). */
#include "probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

unsigned short h_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("no free port");
        exit(1);
    }
    close(fd);
    return ntohs(a.sin_port);
}

uint64_t h_metric_at(unsigned short port, const char *name)
{
    char url[128], line[160], *text = NULL, *at;
    size_t len = 0;
    uint64_t v = UINT64_MAX;
    CURL *c = curl_easy_init();
    FILE *mem = open_memstream(&text, &len);

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", port);
    if (c && mem) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_perform(c);
    }
    if (c)
        curl_easy_cleanup(c);
    if (mem)
        fclose(mem);
    snprintf(line, sizeof(line), "\norderbridge_%s ", name);
    if (text && (at = strstr(text, line)))
        v = strtoull(at + strlen(line), NULL, 10);
    free(text);
    return v;
}
