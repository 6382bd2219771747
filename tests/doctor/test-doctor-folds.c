/* test-doctor-folds.c: the doctor's out-of-fold training (bt-doctor-folds.c), part of the
 * test-doctor binary (its own file: it needs the engine's types, which the dataset's private
 * header, used by test-doctor.c, shadows). */
#include "config.h"

#include "doctor/bt-doctor-private.h"

/* The engine's thread count, which the doctor's parallel steps use too (for test-doctor.c). */
int test_doctor_set_threads (int n);

int
test_doctor_set_threads (int n)
{
  int old = bt_engine_get_threads ();
  bt_engine_set_threads (n);
  return old;
}

/* Accuracy of the argmax of P (n × OOF_C) on the rows whose fold is not −1. */
#define OOF_N 200
#define OOF_D 256
#define OOF_C 4
#define OOF_K 5
static double
oof_accuracy (const double *P, const int *labels, const int *fold, guint n)
{
  guint right = 0, total = 0;
  for (guint i = 0; i < n; i++)
    {
      if (fold[i] < 0)
        continue;
      int am = 0;
      for (int j = 1; j < OOF_C; j++)
        if (P[i * OOF_C + j] > P[i * OOF_C + am])
          am = j;
      right += am == labels[i];
      total++;
    }
  return (double) right / total;
}

/* Out of fold means that no image is scored by a model that saw it. Random features with random
 * labels, which the head learns by heart (more features than images: a copy of each image in
 * another fold is predicted right), come out at chance; the same seed gives the same
 * probabilities; images left out (fold −1) are not touched. */
void test_doctor_out_of_fold (void);

void
test_doctor_out_of_fold (void)
{
  g_autofree float *X = g_new (float, 2 * OOF_N * OOF_D);
  int labels[2 * OOF_N], fold[2 * OOF_N];
  BtRng rng;
  bt_rng_seed (&rng, 7);
  for (guint i = 0; i < OOF_N; i++)
    {
      for (int k = 0; k < OOF_D; k++)
        X[i * OOF_D + k] = X[(OOF_N + i) * OOF_D + k] = bt_rng_normal (&rng);
      labels[i] = labels[OOF_N + i] = (int) bt_rng_below (&rng, OOF_C);
      fold[i] = i < 10 ? -1 : (int) (i % OOF_K);
      fold[OOF_N + i] = (int) ((i + 1) % OOF_K);   /* the copy: always another fold */
    }
  BtDoctorFoldModel m = { .features = X, .dim = OOF_D, .preset = BT_PRESET_TRANSFER, .dropout = 0,
                          .optimizer = BT_OPTIMIZER_ADAM, .learning_rate = 0.01f, .batch_size = 32,
                          .epochs = 30, .seed = 3 };
  g_autoptr (GError) error = NULL;
  g_autofree double *P1 = g_new (double, OOF_N * OOF_C), *P2 = g_new (double, OOF_N * OOF_C);
  for (guint i = 0; i < OOF_N * OOF_C; i++)
    P1[i] = P2[i] = -1;
  g_assert_true (bt_doctor_out_of_fold (&m, labels, fold, OOF_N, OOF_C, OOF_K, P1, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  double chance = oof_accuracy (P1, labels, fold, OOF_N);
  g_test_message ("out of fold: accuracy %.3f (chance 0.25)", chance);
  g_assert_cmpfloat (chance, <, 0.40);
  for (guint i = 0; i < 10 * OOF_C; i++)
    g_assert_cmpfloat (P1[i], ==, -1);
  g_assert_true (bt_doctor_out_of_fold (&m, labels, fold, OOF_N, OOF_C, OOF_K, P2, NULL, NULL, NULL, &error));
  g_assert_cmpmem (P1, sizeof (double) * OOF_N * OOF_C, P2, sizeof (double) * OOF_N * OOF_C);

  /* with a copy of every image in another fold, the same head remembers them */
  g_autofree double *P3 = g_new0 (double, 2 * OOF_N * OOF_C);
  g_assert_true (bt_doctor_out_of_fold (&m, labels, fold, 2 * OOF_N, OOF_C, OOF_K, P3, NULL, NULL, NULL, &error));
  double seen = oof_accuracy (P3, labels, fold, OOF_N);
  g_test_message ("a copy seen in training: accuracy %.3f", seen);
  g_assert_cmpfloat (seen, >, 0.9);
}

