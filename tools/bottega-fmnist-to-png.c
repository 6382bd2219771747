/* bottega-fmnist-to-png: converts Debian's dataset-fashion-mnist IDX files (gzip) into a
 * folder-per-class PNG tree, OUTDIR/<class>/<train|test>-NNNNN.png, for tests and benchmarks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wundef"
#include <stb_image_write.h>

#define DEFAULT_SOURCE "/usr/share/datasets/fashion-mnist"

static const char * const class_names[10] = {
  "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot",
};

static GBytes *
read_gz (const char *path, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) raw = g_file_read (file, NULL, error);
  if (raw == NULL)
    return NULL;
  g_autoptr(GZlibDecompressor) dec = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) in = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (dec));
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  if (g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                              NULL, error) < 0)
    return NULL;
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static void
append (void *ctx, void *data, int size)
{
  g_byte_array_append (ctx, data, (guint) size);
}

/* Converts one IDX image/label pair; returns the number of files written or -1. */
static int
convert (const char *source, const char *prefix, const char *split, const char *outdir,
         guint limit, GError **error)
{
  g_autofree char *ipath = g_strdup_printf ("%s/%s-images-idx3-ubyte.gz", source, prefix);
  g_autofree char *lpath = g_strdup_printf ("%s/%s-labels-idx1-ubyte.gz", source, prefix);
  g_autoptr(GBytes) images = read_gz (ipath, error);
  if (images == NULL)
    return -1;
  g_autoptr(GBytes) labels = read_gz (lpath, error);
  if (labels == NULL)
    return -1;
  gsize ilen, llen;
  const guint8 *id = g_bytes_get_data (images, &ilen), *ld = g_bytes_get_data (labels, &llen);
  if (ilen < 16 || llen < 8 || be32 (id) != 0x803 || be32 (ld) != 0x801)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not IDX image/label files", prefix);
      return -1;
    }
  guint32 n = be32 (id + 4), rows = be32 (id + 8), cols = be32 (id + 12);
  if (n != be32 (ld + 4) || rows == 0 || cols == 0 || rows > 1024 || cols > 1024 ||
      (guint64) n * rows * cols + 16 > ilen || (guint64) n + 8 > llen)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: inconsistent IDX sizes", prefix);
      return -1;
    }
  guint count = limit ? MIN (limit, n) : n;
  g_autoptr(GByteArray) png = g_byte_array_new ();
  for (guint i = 0; i < count; i++)
    {
      guint label = ld[8 + i];
      if (label >= 10)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: label %u out of range", prefix, label);
          return -1;
        }
      g_byte_array_set_size (png, 0);
      stbi_write_png_to_func (append, png, (int) cols, (int) rows, 1, id + 16 + (gsize) i * rows * cols, (int) cols);
      g_autofree char *name = g_strdup_printf ("%s-%05u.png", split, i);
      g_autofree char *path = g_build_filename (outdir, class_names[label], name, NULL);
      if (!g_file_set_contents (path, (const char *) png->data, png->len, error))
        return -1;
    }
  return (int) count;
}

int
main (int argc, char **argv)
{
  g_autofree char *source_arg = NULL;
  int limit = 0;
  GOptionEntry entries[] = {
    { "source", 's', 0, G_OPTION_ARG_FILENAME, &source_arg, "Folder with the IDX .gz files (default " DEFAULT_SOURCE ")", "DIR" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "Convert at most N images of each of train and test", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("OUTDIR");
  g_option_context_set_summary (ctx, "Writes Fashion-MNIST as OUTDIR/<class>/<train|test>-NNNNN.png");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2 || limit < 0)
    {
      fprintf (stderr, "%s\nUsage: %s [--source DIR] [--limit N] OUTDIR\n",
               error ? error->message : "", g_get_prgname ());
      return 2;
    }
  const char *source = source_arg ? source_arg : DEFAULT_SOURCE;
  const char *outdir = argv[1];
  for (guint k = 0; k < 10; k++)
    {
      g_autofree char *d = g_build_filename (outdir, class_names[k], NULL);
      if (g_mkdir_with_parents (d, 0755) != 0)
        {
          fprintf (stderr, "cannot create %s: %s\n", d, g_strerror (errno));
          return 1;
        }
    }
  int a = convert (source, "train", "train", outdir, (guint) limit, &error);
  int b = a < 0 ? -1 : convert (source, "t10k", "test", outdir, (guint) limit, &error);
  if (a < 0 || b < 0)
    {
      fprintf (stderr, "bottega-fmnist-to-png: %s\n", error->message);
      return 1;
    }
  /* Written last: a tree with this file is complete (benchmarks reuse it). */
  g_autofree char *marker = g_build_filename (outdir, ".bottega-fmnist-complete", NULL);
  g_autofree char *count = g_strdup_printf ("%d\n", a + b);
  if (!g_file_set_contents (marker, count, -1, &error))
    {
      fprintf (stderr, "bottega-fmnist-to-png: %s\n", error->message);
      return 1;
    }
  printf ("wrote %d images into %s\n", a + b, outdir);
  return 0;
}
