/* bt-test-page.h: the Test page — classify dropped, opened, pasted images or a whole folder
 * with a saved model, showing the probability of every class. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "bt-probability-bars.h"

G_BEGIN_DECLS

#define BT_TYPE_TEST_PAGE (bt_test_page_get_type ())
G_DECLARE_FINAL_TYPE (BtTestPage, bt_test_page, BT, TEST_PAGE, GtkWidget)

/* Signals: "model-ready" (the chosen model is loaded), "results-changed" (a batch finished). */

/* The project the page shows, or NULL for none. */
void               bt_test_page_set_project     (BtTestPage *self, BtProject *project);
/* Re-reads models/ (after training saved one); the newest is chosen. */
void               bt_test_page_reload_models   (BtTestPage *self);
/* TRUE while a model listing or a model load is in flight, or images are being classified. */
gboolean           bt_test_page_is_busy         (BtTestPage *self);
/* Model listings in flight (a newer one makes the older ones' answers void). */
guint              bt_test_page_get_n_listings  (BtTestPage *self);
/* Path of the loaded model, or NULL while none is loaded. */
const char        *bt_test_page_get_model_path  (BtTestPage *self);
/* Classifies image files in a worker (what a drop, the chooser and "Test a folder" do). */
void               bt_test_page_classify_files  (BtTestPage *self, GFile * const *files, guint n);
/* Classifies every image under folder (a worker walks it); a summary follows the results. */
void               bt_test_page_classify_folder (BtTestPage *self, GFile *folder);
/* Adds a model file from anywhere to the model list and selects it (a .tflite: a message why not). */
void               bt_test_page_open_model_file (BtTestPage *self, GFile *file);
guint              bt_test_page_get_n_results   (BtTestPage *self);
/* The file of result i (NULL for a pasted image). */
const char        *bt_test_page_get_result_path (BtTestPage *self, guint i);
BtProbabilityBars *bt_test_page_get_bars        (BtTestPage *self);
/* The results as CSV: path, top class, confidence, one column per class (g_free). */
char              *bt_test_page_dup_results_csv (BtTestPage *self);

/* The offer to download the loaded model's missing backbone (a BtBackboneOffer), or NULL. */
GtkWidget *bt_test_page_get_backbone_offer (BtTestPage *self);
/* The live camera mode (Live Camera button). */
typedef struct _BtLiveTest BtLiveTest;
BtLiveTest *bt_test_page_get_live (BtTestPage *self);

G_END_DECLS
