/*
 * Messages of several named arrays over ZeroMQ, with the C interface of ArrayTransport.
 *
 *   cc -o transport_example transport_example.c $(pkg-config --cflags --libs arrayqueues)
 *   ./transport_example                       # push/pull over tcp://127.0.0.1 (a free port)
 *   ./transport_example ipc:///tmp/aq-example # or another endpoint a sender can bind
 *
 * A sender binds, a receiver connects, and three messages travel, each with a uint16 image,
 * a float64 vector, an index and JSON metadata. The receiver reads each array in place (the
 * message owns the memory until aq_message_free), then sees the sender's "end".
 */
#include <arrayqueues.h>

#include <stdio.h>
#include <stdlib.h>

static const int64_t TIMEOUT_NS = 10LL * 1000 * 1000 * 1000;

static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "%s failed: %s (%s)\n", what, aq_strerror(rc), aq_last_error_message());
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *endpoint = argc > 1 ? argv[1] : "tcp://127.0.0.1:*";
    /* Defaults, except that closing may wait up to 10 s for the messages to leave (the
       receiver below starts reading only after the sender is closed). */
    aq_sender_options options;
    aq_sender_options_init(&options);
    options.linger_ns = 10000000000LL;
    aq_sender *sender;
    check(aq_sender_create(endpoint, "camera0", &options, &sender), "aq_sender_create");
    char bound[256];
    check(aq_sender_endpoint(sender, bound, sizeof bound), "aq_sender_endpoint");

    aq_receiver *receiver;
    check(aq_receiver_create(bound, NULL, &receiver), "aq_receiver_create");

    uint16_t image[4][6];
    double vector[3];
    const int64_t image_shape[2] = {4, 6}, vector_shape[1] = {3};
    for (int64_t i = 0; i < 3; i++) {
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++) image[y][x] = (uint16_t)(i * 100 + y * 6 + x);
        for (int k = 0; k < 3; k++) vector[k] = (double)i + k / 10.0;
        aq_array arrays[2] = {
            {.name = "image", .dtype = AQ_DTYPE_UINT16, .ndim = 2, .shape = image_shape, .data = image, .nbytes = sizeof image},
            {.name = "vector", .dtype = AQ_DTYPE_FLOAT64, .ndim = 1, .shape = vector_shape, .data = vector, .nbytes = sizeof vector},
        };
        uint64_t sequence;
        check(aq_sender_send(sender, arrays, 2, AQ_SEND_INDEX, 0, i, "{\"exposure_us\": 1200}", &sequence), "aq_sender_send");
    }
    /* Closing sends "end" and waits (up to the linger time) until the messages are out. */
    aq_sender_close(sender);

    int good = 0;
    for (;;) {
        aq_message *message;
        check(aq_receiver_receive(receiver, TIMEOUT_NS, AQ_RECEIVE_EVENTS, &message), "aq_receiver_receive");
        aq_message_info info = {.size = sizeof info};
        check(aq_message_info_get(message, &info), "aq_message_info_get");
        if (info.kind == AQ_EVENT_END) {
            printf("receiver: end of stream '%s'\n", info.stream);
            aq_message_free(message);
            break;
        }
        if (info.kind != AQ_EVENT_DATA) {
            aq_message_free(message);
            continue;
        }
        aq_array image_in, vector_in;
        check(aq_message_array(message, 0, &image_in), "aq_message_array");
        check(aq_message_array(message, 1, &vector_in), "aq_message_array");
        const uint16_t *pixels = image_in.data;
        const double *values = vector_in.data;
        int right = info.array_count == 2 && image_in.dtype == AQ_DTYPE_UINT16 && image_in.shape[0] == 4 &&
                    image_in.shape[1] == 6 && pixels[23] == info.index * 100 + 23 && vector_in.dtype == AQ_DTYPE_FLOAT64 &&
                    values[2] == (double)info.index + 0.2;
        good += right;
        printf("receiver: message %llu of stream '%s': %s %s, %s %s, index %lld, meta %s %s\n",
               (unsigned long long)info.sequence, info.stream, image_in.name, aq_dtype_name(image_in.dtype), vector_in.name,
               aq_dtype_name(vector_in.dtype), (long long)info.index, info.meta_json, right ? "ok" : "WRONG");
        aq_message_free(message);
    }
    aq_receiver_statistics statistics = {.size = sizeof statistics};
    check(aq_receiver_statistics_get(receiver, &statistics), "aq_receiver_statistics_get");
    printf("receiver: %llu received, %llu lost\n", (unsigned long long)statistics.received, (unsigned long long)statistics.lost);
    aq_receiver_close(receiver);
    return good == 3 ? 0 : 1;
}
