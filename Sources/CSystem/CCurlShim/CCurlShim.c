#include "CCurlShim.h"
CURLcode apkit_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode apkit_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
CURLcode apkit_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode apkit_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
CURLcode apkit_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
CURLcode apkit_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
CURLcode apkit_curl_setopt_datafn(CURL *h, CURLoption o, apkit_curl_data_fn fn) { return curl_easy_setopt(h, o, fn); }
CURLcode apkit_curl_setopt_xferinfofn(CURL *h, apkit_curl_xferinfo_fn fn) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, fn); }
