/* bt-test-classes.h: the Data page's class sidebar as a person uses it: a class's row found by
 * its name (NULL: "All images"), and selected with a click through the X server. */
#pragma once

#include <gtk/gtk.h>

#include "bt-class-row.h"
#include "bt-test-input.h"
#include "bt-test-wait.h"

/* The sidebar row under root of the class called name, or of "All images" for NULL; NULL if none. */
static inline BtClassRow *
bt_test_find_class_row (GtkWidget *root, const char *name)
{
  if (BT_IS_CLASS_ROW (root))
    {
      BtClassInfo *info = bt_class_row_get_info (BT_CLASS_ROW (root));
      if (name == NULL ? info == NULL : info != NULL && g_strcmp0 (bt_class_info_get_name (info), name) == 0)
        return BT_CLASS_ROW (root);
    }
  for (GtkWidget *child = gtk_widget_get_first_child (root); child; child = gtk_widget_get_next_sibling (child))
    {
      BtClassRow *row = bt_test_find_class_row (child, name);
      if (row != NULL)
        return row;
    }
  return NULL;
}

/* Clicks the row of class name (NULL: "All images") under page, and waits until it is selected. */
static inline void
bt_test_click_class (GtkWidget *page, const char *name)
{
  GtkWidget *row;

  bt_test_drain ();
  row = GTK_WIDGET (bt_test_find_class_row (page, name));
  g_assert_nonnull (row);
  bt_test_click (row);
  BT_TEST_WAIT (gtk_widget_get_state_flags (gtk_widget_get_parent (row)) & GTK_STATE_FLAG_SELECTED);
}
