/* bt-test-tune-util.h: a small Shapes project for the tune and k-fold tests, and a project made a
 * transfer one. */
#pragma once

#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "bt-test-fs.h"

/* 4 classes × n at 32×32 grey, split 60/25/15 so validation has enough images to rank. */
static inline BtProject *
bt_test_shapes_project (const char *dir, guint n)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtProject) p = bt_sample_create_shapes (dir, n, 32, 1, NULL, &error);
  g_assert_no_error (error);
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (p));
  s.width = s.height = 32;
  s.channels = 1;
  s.split_train = 60;
  s.split_val = 25;
  s.split_test = 15;
  s.epochs = 2;
  g_assert_true (bt_project_update_settings (p, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
  return g_steal_pointer (&p);
}

/* The project as a transfer project, its images half training, half validation (no test split:
 * the tune and k-fold tests of transfer heads score on validation only). */
static inline void
bt_test_tune_make_transfer (BtProject *p)
{
  g_autoptr (GError) error = NULL;
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (p));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  s.split_train = 50;
  s.split_val = 50;
  s.split_test = 0;
  g_assert_true (bt_project_update_settings (p, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
}
